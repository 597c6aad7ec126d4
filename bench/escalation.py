"""Escalation latency: trigger → first Slack call, and how late escalation steps fire.

Runs the whole stack as ``tocsin up`` does (bench/events.py ``running_stack``) with Slack
pointed at the local fake Slack Web API (tests/fakes/slack_api.py, the real slack_sdk client
talks to it), then:

- ``first-slack``: ``--incidents`` triggers through the API, ``--concurrency`` at a time, on
  a service with a Slack channel and a one-person policy; the latency is from sending the
  trigger to the fake receiving the first ``chat.postMessage`` for that incident (the
  channel announcement or the page, whichever comes first).
- ``step-lateness``: the same incidents' policy has a second step ``--delay-minutes`` after
  the first (real durable timers); lateness = when step 2 fired - when step 1 fired - the
  delay (the escalation timeline entries' times, i.e. when the worker ran each step).

Triggers are paced at ``--rate`` per second (open loop), the way alerts arrive, rather than
as fast as possible: the events benchmark measures saturation.

Run: ``python -m bench.escalation [--smoke] [--write-docs]``.
"""

import argparse
import asyncio
import json
import math
import os
import shlex
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlmodel import col, select

from bench.events import DOCS, nearest_rank, running_stack, write_docs
from models import TimelineEntry
from models.catalog import update_service
from models.db import create_engine, session_scope
from models.directory import create_user
from models.escalation import StepSpec, Target
from models.escalation_policies import create_policy
from models.notifications import ContactMethod
from models.provisioning import create_integration, create_service
from tests.fakes.slack_api import TEST_BOT_TOKEN, FakeSlack
from tocsin.keys import new_id
from tocsin.settings import Settings

SECTION = "## Escalation"


async def provision(database_url: str, slack: FakeSlack, delay: int) -> tuple[str, dict[str, str]]:
    """A service with a Slack channel and a two-step policy (first, then second person)."""
    engine = create_engine(Settings(database_url=database_url))
    slack_ids: dict[str, str] = {}
    try:
        async with session_scope(engine) as session:
            users = []
            for role in ("first", "second"):
                slack_user = slack.add_user(role)
                user = await create_user(
                    session, role, f"{role}-{uuid.uuid4().hex[:6]}@bench.example"
                )
                session.add(
                    ContactMethod(
                        id=new_id("cm"), user_id=user.id, type="slack", address=slack_user["id"]
                    )
                )
                slack_ids[role] = slack_user["id"]
                users.append(user)
            steps = [
                StepSpec(delay_minutes=delay, targets=(Target("user", users[0].id),)),
                StepSpec(delay_minutes=0, targets=(Target("user", users[1].id),)),
            ]
            policy = await create_policy(session, "bench", steps)
            service = await create_service(session, "bench escalation")
            await update_service(
                session,
                service,
                {"escalation_policy_id": policy.id, "slack_channel": slack.add_channel("bench")},
            )
            _, key = await create_integration(session, service.id, "bench")
    finally:
        await engine.dispose()
    return key, slack_ids


def arrivals(slack: FakeSlack, channel_of: dict[str, str]) -> dict[str, dict[str, float]]:
    """incident id → {"first": t, "step1": t, "step2": t} from the fake's call log."""
    out: dict[str, dict[str, float]] = {}
    for call in slack.calls_of("chat.postMessage"):
        raw = call.params.get("metadata")
        meta = json.loads(raw) if isinstance(raw, str) else raw or {}
        incident = (meta.get("event_payload") or {}).get("incident_id")
        if not incident:
            continue
        seen = out.setdefault(incident, {})
        seen.setdefault("first", call.at)
        step = channel_of.get(str(call.params.get("channel")))
        if step is not None:
            seen.setdefault(step, call.at)
    return out


async def measure(
    stack_api: str, database_url: str, slack: FakeSlack, args: argparse.Namespace
) -> dict[str, float]:
    key, slack_ids = await provision(database_url, slack, args.delay_minutes)
    # A DM is addressed by user id or by its IM channel id.
    channel_of = {
        address: step
        for step, role in (("step1", "first"), ("step2", "second"))
        for address in (slack_ids[role], slack.im_channel(slack_ids[role]))
    }
    sent: dict[str, float] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(args.incidents):
        queue.put_nowait(n)
    headers = {"Authorization": f"Token token={key}"}
    async with httpx.AsyncClient(base_url=stack_api, timeout=30) as http:
        began = time.monotonic()

        async def sender() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                await asyncio.sleep(max(0.0, began + n / args.rate - time.monotonic()))
                body = {
                    "event_action": "trigger",
                    "dedup_key": f"bench-{n}-{uuid.uuid4().hex[:6]}",
                    "payload": {"summary": f"bench {n}", "source": "bench", "severity": "critical"},
                }
                started = time.monotonic()
                response = await http.post("/api/events", json=body, headers=headers)
                response.raise_for_status()
                sent[response.json()["incident_key"]] = started

        await asyncio.gather(*(sender() for _ in range(args.concurrency)))
    deadline = time.monotonic() + args.delay_minutes * 60 + 120
    while time.monotonic() < deadline:
        seen = arrivals(slack, channel_of)
        if all("step2" in seen.get(i, {}) for i in sent):
            break
        await asyncio.sleep(0.5)
    seen = arrivals(slack, channel_of)
    first = [seen[i]["first"] - t for i, t in sent.items() if "first" in seen.get(i, {})]
    late = await step_lateness(database_url, list(sent), args.delay_minutes)
    missing = sum(1 for i in sent if "step2" not in seen.get(i, {}))
    posts = slack.calls_of("chat.postMessage")
    pages = [c for c in posts if c.params.get("channel") in channel_of]
    return {
        "incidents": len(sent),
        "first_slack_p50_ms": nearest_rank(first, 0.50) * 1000,
        "first_slack_p99_ms": nearest_rank(first, 0.99) * 1000,
        "step_lateness_p50_ms": nearest_rank(late, 0.50) * 1000,
        "step_lateness_p99_ms": nearest_rank(late, 0.99) * 1000,
        "step_lateness_max_ms": max(late, default=math.nan) * 1000,
        "missing_step2": missing,
        "duplicate_pages": len(pages) - 2 * len(sent),
    }


async def step_lateness(database_url: str, incidents: list[str], delay: int) -> list[float]:
    engine = create_engine(Settings(database_url=database_url))
    try:
        async with session_scope(engine) as session:
            rows = (
                await session.exec(
                    select(TimelineEntry)
                    .where(col(TimelineEntry.incident_id).in_(incidents))
                    .where(TimelineEntry.kind == "escalation")
                    .order_by(col(TimelineEntry.incident_id), col(TimelineEntry.seq))
                )
            ).all()
    finally:
        await engine.dispose()
    fired: dict[str, list[datetime]] = {}
    for row in rows:
        fired.setdefault(row.incident_id, []).append(row.at)
    return [
        (times[1] - times[0]).total_seconds() - delay * 60
        for times in fired.values()
        if len(times) >= 2
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rate", type=float, default=5.0, help="triggers per second")
    parser.add_argument("--delay-minutes", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="5 incidents, no delay")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        args.incidents, args.concurrency, args.delay_minutes, args.rate = 5, 2, 0, 10.0
    return args


def docs_section(result: dict[str, float], command: str, args: argparse.Namespace) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = "\n".join(
        f"| {k} | {v:.1f} |" if isinstance(v, float) else f"| {k} | {v} |"
        for k, v in result.items()
    )
    return f"""{SECTION}

Command: `{command}` ({when}, {len(os.sched_getaffinity(0))} cores). {args.incidents}
incidents triggered through the API at {args.rate:g}/s; Slack is the local fake Web API (the
real slack_sdk client, loopback HTTP). Step 2 is due {args.delay_minutes} min after step 1;
lateness is when step 2 fired minus when step 1 fired minus the delay.

| measure | value |
|---|---|
{rows}
"""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    async def with_fake() -> dict[str, float]:
        slack = FakeSlack(token=TEST_BOT_TOKEN)
        await slack.start()
        os.environ["TOCSIN_SLACK_BOT_TOKEN"] = TEST_BOT_TOKEN
        os.environ["TOCSIN_SLACK_API_URL"] = slack.api_url
        try:
            with tempfile.TemporaryDirectory(prefix="tocsin-bench-esc-") as tmp:
                stack_cm = running_stack(Path(tmp))
                stack = await asyncio.to_thread(stack_cm.__enter__)
                try:
                    return await measure(stack.api_url, stack.database_url, slack, args)
                finally:
                    await asyncio.to_thread(stack_cm.__exit__, None, None, None)
        finally:
            await slack.stop()

    result = asyncio.run(with_fake())
    for name, value in result.items():
        print(f"{name:>24}: {value:.1f}" if isinstance(value, float) else f"{name:>24}: {value}")
    if args.write_docs:
        command = "python -m bench.escalation " + shlex.join(
            argv if argv is not None else sys.argv[1:]
        )
        write_docs(docs_section(result, command.strip(), args), SECTION)
        print(f"rewrote {SECTION!r} in {DOCS}")
    failed = result["missing_step2"] or result["duplicate_pages"]
    if failed:
        print("FAILED: missing or duplicate pages", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
