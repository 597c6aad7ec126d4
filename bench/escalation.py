"""Escalation: trigger → first page, and how late step 2 fires against its due time.

Runs the whole stack as ``tocsin up`` does (bench/stack.py ``running_stack``) with Slack
pointed at the local fake Slack Web API (tests/fakes/slack_api.py; the real slack_sdk client
talks to it over loopback HTTP). One service has a Slack channel and a two-step policy: step 1
pages the first person, step 2 the second person ``--delay-minutes`` later (real durable
timers; delays are whole minutes in the API and the schema, so 1 minute is the shortest real
delay). ``--incidents`` triggers go through the API paced at ``--rate`` per second (open
loop, the way alerts arrive), then the run waits for every step 2:

- first page: from sending the trigger to the fake receiving step 1's page (and, for
  reference, to the first Slack call of any kind, usually the channel announcement);
- step-2 lateness: step 2 is due ``delay`` after step 1 fired (step 1's escalation timeline
  entry, i.e. when the worker ran it); "fired" is when step 2's timeline entry says it ran,
  "paged" when its page reached Slack;
- exactly one step-1 and one step-2 page per incident (missing and duplicate pages fail).

Run: ``python -m bench.escalation [--smoke] [--write-docs] [--results-dir DIR]``.
"""

import argparse
import asyncio
import json
import shlex
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, select

from bench.report import (
    RESULTS,
    describe_machine,
    machine,
    markdown_table,
    nearest_rank,
    write_csv,
    write_docs,
)
from bench.report import stamp as report_stamp
from bench.report import when as report_when
from bench.scenario import interrupt_on_sigterm
from bench.stack import Monitor, Stack, roots, running_stack
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
TARGET_LATENESS_P99_S = 2.0
# After the last step 2 is due, how long to wait for stragglers before counting them missing.
GRACE_SECONDS = 120.0


@asynccontextmanager
async def stack_with_slack(workdir: Path) -> AsyncIterator[tuple[Stack, FakeSlack]]:
    """The stack with Slack pointed at a FakeSlack running in this process (so its call
    times are on this process's clock)."""
    slack = FakeSlack(token=TEST_BOT_TOKEN)
    await slack.start()
    env = {"TOCSIN_SLACK_BOT_TOKEN": TEST_BOT_TOKEN, "TOCSIN_SLACK_API_URL": slack.api_url}
    try:
        stack_cm = running_stack(workdir, env)
        stack = await asyncio.to_thread(stack_cm.__enter__)
        try:
            yield stack, slack
        finally:
            await asyncio.to_thread(stack_cm.__exit__, None, None, None)
    finally:
        await slack.stop()


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
            policy = await create_policy(session, f"bench {uuid.uuid4().hex[:6]}", steps)
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


@dataclass
class Seen:
    """What reached the fake Slack for one incident (time.monotonic() seconds)."""

    first_call: float | None = None
    pages: dict[str, list[float]] = field(default_factory=lambda: {"step1": [], "step2": []})


def arrivals(slack: FakeSlack, step_of: Mapping[str, str]) -> dict[str, Seen]:
    """incident id → what Slack received for it, from the fake's call log (every message
    carries the incident id in its metadata)."""
    out: dict[str, Seen] = {}
    for call in slack.calls_of("chat.postMessage"):
        raw = call.params.get("metadata")
        meta = json.loads(raw) if isinstance(raw, str) else raw or {}
        incident = (meta.get("event_payload") or {}).get("incident_id")
        if not incident:
            continue
        seen = out.setdefault(incident, Seen())
        if seen.first_call is None:
            seen.first_call = call.at
        step = step_of.get(str(call.params.get("channel")))
        if step is not None:
            seen.pages[step].append(call.at)
    return out


async def escalation_times(database_url: str, incidents: list[str]) -> dict[str, dict[int, float]]:
    """incident → {step number: when the worker fired it (epoch seconds)}, from the
    escalation timeline entries the projection wrote."""
    engine = create_engine(Settings(database_url=database_url))
    try:
        async with session_scope(engine) as session:
            rows = (
                await session.exec(
                    select(TimelineEntry)
                    .where(col(TimelineEntry.incident_id).in_(incidents))
                    .where(TimelineEntry.kind == "escalation")
                )
            ).all()
    finally:
        await engine.dispose()
    fired: dict[str, dict[int, float]] = {}
    for row in rows:
        step = row.data.get("step")
        if isinstance(step, int):
            fired.setdefault(row.incident_id, {}).setdefault(step, row.at.timestamp())
    return fired


@dataclass
class Outcome:
    incidents: int
    trigger_seconds: float
    trigger_latencies: list[float]
    first_page: list[float]
    first_call: list[float]
    fired_late: list[float]
    paged_late: list[float]
    missing: int
    duplicates: int
    errors: int
    cpu: dict[str, float]
    rss_mb: dict[str, float]

    def summary(self) -> dict[str, float | int]:
        def ms(values: list[float], q: float) -> float:
            return 1000 * nearest_rank(values, q)

        out: dict[str, float | int] = {
            "incidents": self.incidents,
            "trigger_rate": self.incidents / self.trigger_seconds if self.trigger_seconds else 0,
        }
        for name, values in (
            ("trigger_202", self.trigger_latencies),
            ("first_page", self.first_page),
            ("first_slack_call", self.first_call),
            ("step2_fired_late", self.fired_late),
            ("step2_paged_late", self.paged_late),
        ):
            for q in (0.5, 0.95, 0.99):
                out[f"{name}_p{round(q * 100)}_ms"] = ms(values, q)
            out[f"{name}_max_ms"] = 1000 * max(values, default=float("nan"))
        out |= {"missing_pages": self.missing, "duplicate_pages": self.duplicates}
        return out | {"trigger_errors": self.errors}


async def measure(stack: Stack, slack: FakeSlack, args: argparse.Namespace) -> Outcome:
    key, slack_ids = await provision(stack.database_url, slack, args.delay_minutes)
    # A DM is addressed by user id or by its IM channel id.
    step_of = {
        address: step
        for step, role in (("step1", "first"), ("step2", "second"))
        for address in (slack_ids[role], slack.im_channel(slack_ids[role]))
    }
    sent: dict[str, float] = {}
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    headers = {"Authorization": f"Token token={key}"}
    limits = httpx.Limits(max_connections=args.concurrency)
    with Monitor(roots(stack)) as monitor:
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=30, limits=limits) as http:
            bound = asyncio.Semaphore(args.concurrency)
            began = time.monotonic()

            async def trigger(n: int) -> None:
                await asyncio.sleep(max(0.0, began + n / args.rate - time.monotonic()))
                body = {
                    "event_action": "trigger",
                    "dedup_key": f"bench-{n}-{uuid.uuid4().hex[:6]}",
                    "payload": {"summary": f"bench {n}", "source": "bench", "severity": "critical"},
                }
                async with bound:
                    started = time.monotonic()
                    try:
                        response = await http.post("/api/events", json=body, headers=headers)
                    except httpx.HTTPError as err:
                        errors[type(err).__name__] += 1
                        return
                if response.status_code != 202:
                    errors[f"HTTP {response.status_code}"] += 1
                    return
                latencies.append(time.monotonic() - started)
                sent[response.json()["incident_key"]] = started

            await asyncio.gather(*(trigger(n) for n in range(args.incidents)))
            trigger_seconds = time.monotonic() - began
        deadline = time.monotonic() + args.delay_minutes * 60 + GRACE_SECONDS
        while time.monotonic() < deadline:
            seen = arrivals(slack, step_of)
            if all(seen.get(i, Seen()).pages["step2"] for i in sent):
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)  # let a late duplicate show itself
    seen = arrivals(slack, step_of)
    fired = await escalation_times(stack.database_url, list(sent))
    # The fake stamps calls with time.monotonic(); the timeline has wall-clock times.
    to_wall = time.time() - time.monotonic()
    outcome = Outcome(
        incidents=len(sent), trigger_seconds=trigger_seconds, trigger_latencies=latencies,
        first_page=[], first_call=[], fired_late=[], paged_late=[], missing=0, duplicates=0,
        errors=sum(errors.values()), cpu=monitor.cpu, rss_mb=monitor.peak_rss_mb(),
    )  # fmt: skip
    delay = args.delay_minutes * 60
    for incident, started in sent.items():
        got = seen.get(incident, Seen())
        pages = got.pages
        outcome.missing += sum(1 for step in pages.values() if not step)
        outcome.duplicates += sum(max(0, len(step) - 1) for step in pages.values())
        if pages["step1"]:
            outcome.first_page.append(pages["step1"][0] - started)
        if got.first_call is not None:
            outcome.first_call.append(got.first_call - started)
        steps = fired.get(incident, {})
        if 1 in steps:
            due = steps[1] + delay
            if 2 in steps:
                outcome.fired_late.append(steps[2] - due)
            if pages["step2"]:
                outcome.paged_late.append(pages["step2"][0] + to_wall - due)
    return outcome


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.escalation", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--incidents", type=int, default=None, help="(500)")
    parser.add_argument("--rate", type=float, default=None, help="triggers per second (10)")
    parser.add_argument("--concurrency", type=int, default=16, help="triggers in flight at most")
    parser.add_argument(
        "--delay-minutes", type=int, default=None, help="step 1 → step 2 (1: the shortest)"
    )
    parser.add_argument("--smoke", action="store_true", help="5 incidents, step 2 at once")
    parser.add_argument("--write-docs", action="store_true", help=f"rewrite {SECTION!r}")
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where the CSV goes")
    args = parser.parse_args(argv)
    if args.smoke and args.write_docs:
        parser.error("--smoke numbers do not belong in the docs")
    args.incidents = args.incidents or (5 if args.smoke else 500)
    args.rate = args.rate or 10.0
    if args.delay_minutes is None:
        args.delay_minutes = 0 if args.smoke else 1
    return args


def table(result: Mapping[str, float | int]) -> str:
    names = ("trigger_202", "first_page", "first_slack_call", "step2_fired_late",
             "step2_paged_late")  # fmt: skip
    rows = [
        [name.replace("_", " "), *(f"{result[f'{name}_{q}_ms']:.0f}" for q in
                                   ("p50", "p95", "p99", "max"))]
        for name in names
    ]  # fmt: skip
    return markdown_table(["measure", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows, "lrrrr")


def checks(result: Mapping[str, float | int]) -> list[str]:
    failed = []
    if result["missing_pages"] or result["duplicate_pages"] or result["trigger_errors"]:
        failed.append(
            f"{result['missing_pages']} missing and {result['duplicate_pages']} duplicate "
            f"pages, {result['trigger_errors']} failed triggers"
        )
    return failed


def docs_section(
    outcome: Outcome, info: dict[str, str], command: str, args: argparse.Namespace
) -> str:
    result = outcome.summary()
    when = report_when()
    p99 = float(result["step2_paged_late_p99_ms"]) / 1000
    verdict = "meets" if p99 < TARGET_LATENESS_P99_S else "misses"
    cpu = ", ".join(f"{k} {v:.2f}" for k, v in outcome.cpu.items())
    rss = ", ".join(f"{k} {v:.0f} MB" for k, v in outcome.rss_mb.items())
    failed = checks(result)
    return f"""{SECTION}

Generated by `bench/escalation.py` on {when}; rerun it to refresh this section.

```
{command}
```

- Machine: {describe_machine(info)}.
- {outcome.incidents} incidents triggered through the API at {result["trigger_rate"]:.1f}/s
  (paced at {args.rate:g}/s, at most {args.concurrency} in flight) on one service whose policy
  pages a first person, then a second person {args.delay_minutes} min later. Policy delays are
  whole minutes (API and schema), so 1 minute is the shortest real delay.
- Slack is the local fake Web API (the real slack_sdk client over loopback HTTP). First page:
  trigger sent → step 1's page at Slack; first Slack call: → any call for the incident.
- Step 2 is due {args.delay_minutes} min after step 1 fired (step 1's timeline entry).
  "Fired late": step 2's timeline entry minus that; "paged late": step 2's page at Slack
  minus that (the first includes the timer, the second also the delivery).
- CPU in cores over the whole run (mostly idle while timers wait): {cpu}. Peak RSS: {rss}.

{table(result)}

Step-2 lateness p99 (paged) {p99:.2f} s {verdict} the {TARGET_LATENESS_P99_S:g} s target.
Pages: {result["missing_pages"]} missing, {result["duplicate_pages"]} duplicate
({"FAILED: " + "; ".join(failed) if failed else "each step paged exactly once per incident"}).
"""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    interrupt_on_sigterm()
    began = time.monotonic()
    stamp = report_stamp()

    async def run() -> Outcome:
        with tempfile.TemporaryDirectory(prefix="tocsin-bench-esc-") as tmp:
            async with stack_with_slack(Path(tmp)) as (stack, slack):
                print(f"stack up in {time.monotonic() - began:.1f}s", flush=True)
                return await measure(stack, slack, args)

    outcome = asyncio.run(run())
    result = outcome.summary()
    print(table(result))
    print(", ".join(f"{k} {v}" for k, v in result.items() if not k.endswith("_ms")))
    print("peak RSS MB: " + ", ".join(f"{k} {v:.0f}" for k, v in outcome.rss_mb.items()))
    row: dict[str, Any] = {
        "timestamp": stamp, "scenario": "escalation", "smoke": args.smoke,
        "rate": args.rate, "delay_minutes": args.delay_minutes, **result,
        "target": f"step-2 lateness p99 < {TARGET_LATENESS_P99_S:g} s",
        "target_met": result["step2_paged_late_p99_ms"] < 1000 * TARGET_LATENESS_P99_S,
        **{f"cpu_{k}": v for k, v in outcome.cpu.items()},
        **{f"peak_rss_{k}_mb": v for k, v in outcome.rss_mb.items()},
    }  # fmt: skip
    path = write_csv(args.results_dir / f"escalation-{stamp}.csv", [row])
    print(f"wrote {path}")
    if args.write_docs:
        command = "python -m bench.escalation " + shlex.join(
            argv if argv is not None else sys.argv[1:]
        )
        write_docs(docs_section(outcome, machine(), command.strip(), args), SECTION)
        print(f"rewrote {SECTION!r}")
    print(f"total {time.monotonic() - began:.1f}s")
    failed = checks(result)
    for failure in failed:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
