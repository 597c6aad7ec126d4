"""Scenarios 3 and 4 in one run: mixed realistic load, and time to notify under it.

3. ``--services`` (200) services with one integration each; each request picks a service at
   random, a dedup key from that service's ``--keys`` by a Zipf law (exponent ``--zipf``) and
   an action: 70 % trigger, 20 % acknowledge, 10 % resolve. Open loop at ``--rate`` for
   ``--seconds`` (latency from when a request was due), then on a fresh stack at half that
   rate (``--no-half``: only the first): 50/s is about where two cores saturate. Nothing may
   be lost: from the answers (which incident each accepted event reached, and what it did)
   the bench derives every incident the read side must hold, its alert count, alert rows and
   final status, and compares them with PostgreSQL once it caught up.
4. The first ``--notify-services`` services have a Slack channel and a one-step policy paging
   a user with a Slack contact; Slack is the local fake Web API (tests/fakes/slack_api.py,
   the real slack_sdk client talks to it, in a thread of this process). Time to notify is
   from sending a trigger that opened an incident to the fake receiving the first
   ``chat.postMessage`` for it (target p99 < 1 s), split into stages from each incident's
   workflow history (bench/notify_stages.py).

Run: ``python -m bench.mixed [--smoke] [--write-docs]``.
"""

import argparse
import asyncio
import json
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench import notify_stages
from bench.client import Tenant, provision, query, send_event
from bench.http import Http, http_client
from bench.load import open_loop
from bench.report import (
    add_common_options,
    fmt,
    markdown_table,
    nearest_rank,
    percentiles_ms,
    resources,
    stamp,
    write_csv,
    write_docs,
)
from bench.scenario import command_line, report_failures, section, stack_for, wait_until
from bench.stack import Monitor, Stack, roots
from models import Service
from models.catalog import update_service
from models.db import create_engine, session_scope
from models.directory import create_user
from models.escalation import StepSpec, Target
from models.escalation_policies import create_policy
from models.notifications import ContactMethod
from tests.fakes.slack_api import TEST_BOT_TOKEN, FakeSlack
from tocsin.keys import new_id
from tocsin.settings import Settings
from tocsin.temporal import connect

MIXED_HEADING = "## 3. Mixed load"
NOTIFY_HEADING = "## 4. Time to notify"
ACTIONS = ("trigger", "acknowledge", "resolve")
WEIGHTS = (0.7, 0.2, 0.1)
NOTIFY_TARGET_MS = 1000.0
CATCH_UP_LIMIT = 60.0


# --- Slack ----------------------------------------------------------------------------------


@contextmanager
def fake_slack() -> Iterator[FakeSlack]:
    """The fake Slack API on its own event loop in a thread, so the load generator's loop
    does not delay the time it records for each call."""
    slack = FakeSlack(token=TEST_BOT_TOKEN)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-slack", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(slack.start(), loop).result(10)
        yield slack
    finally:
        asyncio.run_coroutine_threadsafe(slack.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def first_posts(slack: FakeSlack) -> dict[str, float]:
    """incident id → when the fake got the first chat.postMessage about it."""
    out: dict[str, float] = {}
    for call in list(slack.calls):
        if call.method != "chat.postMessage":
            continue
        raw = call.params.get("metadata")
        meta = json.loads(raw) if isinstance(raw, str) else raw or {}
        incident = (meta.get("event_payload") or {}).get("incident_id")
        if incident:
            out.setdefault(incident, call.at)
    return out


# --- provisioning ---------------------------------------------------------------------------


async def add_paging(database_url: str, slack: FakeSlack, tenants: list[Tenant]) -> None:
    """A Slack channel each and one shared one-step policy paging one Slack user."""
    engine = create_engine(Settings(database_url=database_url))
    try:
        async with session_scope(engine) as session:
            slack_user = slack.add_user("oncall")
            user = await create_user(session, "oncall", f"oncall-{new_id('x')}@bench.example")
            session.add(
                ContactMethod(
                    id=new_id("cm"), user_id=user.id, type="slack", address=slack_user["id"]
                )
            )
            steps = [StepSpec(delay_minutes=0, targets=(Target("user", user.id),))]
            policy = await create_policy(session, "bench mixed", steps)
            for n, tenant in enumerate(tenants):
                service = await session.get(Service, tenant.service_id)
                assert service is not None
                await update_service(
                    session,
                    service,
                    {
                        "escalation_policy_id": policy.id,
                        "slack_channel": slack.add_channel(f"bench-{n}"),
                    },
                )
    finally:
        await engine.dispose()


# --- load -----------------------------------------------------------------------------------


@dataclass
class Sent:
    """What the answers say the read side must hold."""

    alerts: Counter[str] = field(default_factory=Counter)  # incident → accepted triggers
    opened: set[str] = field(default_factory=set)
    acknowledged: set[str] = field(default_factory=set)
    resolved: set[str] = field(default_factory=set)
    unattributed: int = 0  # accepted triggers whose answer named no incident
    trigger_sent_at: dict[str, float] = field(default_factory=dict)  # opened → monotonic


def plan(args: argparse.Namespace, tenants: list[Tenant]) -> list[tuple[Tenant, str, str]]:
    """Every request of the run, drawn up front from a seeded generator (reproducible)."""
    rng = random.Random(args.seed)
    ranks = list(range(args.keys))
    zipf = [1 / (k + 1) ** args.zipf for k in ranks]
    count = max(1, round(args.rate * args.seconds))
    return [
        (
            tenant := rng.choice(tenants),
            f"{tenant.service_id}-k{rng.choices(ranks, zipf)[0]}",
            rng.choices(ACTIONS, WEIGHTS)[0],
        )
        for _ in range(count)
    ]


def mixed_call(http: Http, requests: list[tuple[Tenant, str, str]], sent: Sent) -> Any:
    async def call(n: int) -> tuple[bool, str]:
        tenant, key, action = requests[n]
        started = time.monotonic()
        answer = await send_event(http, tenant, action, key)
        label, incident = answer.label, answer.incident
        if not answer.accepted:
            return False, label
        if action == "trigger":
            if incident is None:
                sent.unattributed += 1
            else:
                sent.alerts[incident] += 1
                if label == "trigger:triggered":
                    sent.opened.add(incident)
                    sent.trigger_sent_at[incident] = started
        elif incident is not None and label == "acknowledge:acknowledged":
            sent.acknowledged.add(incident)
        elif incident is not None and label == "resolve:resolved":
            sent.resolved.add(incident)
        return True, label

    return call


def expected_status(sent: Sent, incident: str) -> str:
    if incident in sent.resolved:
        return "RESOLVED"
    return "ACKNOWLEDGED" if incident in sent.acknowledged else "OPEN"


async def held(stack: Stack, tenants: list[Tenant]) -> dict[str, dict[str, Any]]:
    rows = await query(
        stack.database_url,
        "SELECT i.id, i.status, i.alert_count,"
        " (SELECT count(*) FROM alert a WHERE a.incident_id = i.id) AS alert_rows"
        " FROM incident i WHERE i.service_id = ANY(:services)",
        services=[t.service_id for t in tenants],
    )
    return {r["id"]: r for r in rows}


def differences(sent: Sent, found: dict[str, dict[str, Any]]) -> dict[str, int]:
    return {
        "missing_incidents": len(sent.opened - set(found)),
        "unexpected_incidents": len(set(found) - sent.opened),
        "wrong_alert_count": sum(
            1 for i, n in sent.alerts.items() if i in found and found[i]["alert_count"] != n
        ),
        "missing_alert_rows": sum(
            max(0, r["alert_count"] - r["alert_rows"]) for r in found.values()
        ),
        "wrong_status": sum(
            1 for i in sent.opened if i in found and found[i]["status"] != expected_status(sent, i)
        ),
    }


def loads(args: argparse.Namespace) -> list[float]:
    """The offered rates: ``--rate``, then half of it (as scenario 1 judges latency at half
    the saturating rate: ``--rate`` is near this machine's saturation)."""
    return [args.rate] if args.no_half else [args.rate, args.rate / 2]


async def measure(
    stack: Stack, slack: FakeSlack, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any]]:
    tenants = await provision(stack.database_url, args.services, "mixed")
    paging = tenants[: args.notify_services]
    await add_paging(stack.database_url, slack, paging)
    requests = plan(args, tenants)
    sent = Sent()
    async with http_client(stack.api_url, args.max_in_flight) as http:
        warm_tenant = (await provision(stack.database_url, 1, "mixed warm-up"))[0]
        for n in range(8):
            await send_event(http, warm_tenant, "trigger", f"w-{n}")
        with Monitor(roots(stack)) as monitor:
            run = await open_loop(
                mixed_call(http, requests, sent),
                rate=args.rate,
                seconds=args.seconds,
                max_in_flight=args.max_in_flight,
            )

    async def caught_up() -> bool:
        return not any(differences(sent, await held(stack, tenants)).values())

    lag = await wait_until(caught_up, CATCH_UP_LIMIT)
    diff = differences(sent, await held(stack, tenants))
    diff["unattributed_triggers"] = sent.unattributed
    by_action = {
        f"{kind}_{q}": value
        for kind in ACTIONS
        for q, value in percentiles_ms(run.by_kind.get(kind, [])).items()
    }
    mixed = (
        {
            "name": f"mixed at {args.rate:g}/s",
            "load": f"{args.rate:g}/s offered, {args.seconds:g} s",
        }
        | run.summary()
        | by_action
        | {
            "incidents_opened": len(sent.opened),
            "triggers_accepted": sum(sent.alerts.values()) + sent.unattributed,
            "acknowledged": len(sent.acknowledged),
            "resolved": len(sent.resolved),
            "catch_up_s": lag,
        }
        | diff
        | resources(monitor.cpu, monitor.peak_rss_mb())
        | {
            "outcomes": " ".join(f"{k}={v}" for k, v in sorted(run.outcomes.items())),
            "checks": "nothing lost" if not any(diff.values()) else f"FAILED: {diff}",
            "checks_passed": not any(diff.values()),
        }
    )
    notify = await time_to_notify(sent, paging, slack, monitor, args)
    return mixed, notify


async def time_to_notify(
    sent: Sent, paging: list[Tenant], slack: FakeSlack, monitor: Monitor, args: argparse.Namespace
) -> dict[str, Any]:
    paged = {t.service_id for t in paging}
    # An incident id does not name its service: take the opened incidents of paging services
    # from the read side.
    rows = await query(
        args.database_url,
        "SELECT id, workflow_id FROM incident WHERE service_id = ANY(:services)",
        services=sorted(paged),
    )
    workflows = {r["id"]: r["workflow_id"] for r in rows if r["id"] in sent.trigger_sent_at}
    watched = set(workflows)

    async def all_posted() -> bool:
        return watched <= set(first_posts(slack))

    await wait_until(all_posted, 30.0)
    posts = first_posts(slack)
    latencies = [posts[i] - sent.trigger_sent_at[i] for i in watched if i in posts]
    p99 = 1000 * nearest_rank(latencies, 0.99)
    client = await connect(Settings(temporal_address=args.temporal_address))
    stages = await notify_stages.measure(
        client,
        [
            notify_stages.Watched(i, workflows[i], sent.trigger_sent_at[i], posts[i])
            for i in watched
            if i in posts
        ],
    )
    return (
        {"name": "trigger → first Slack call", "load": f"mixed at {args.rate:g}/s"}
        | {"incidents": len(watched), "notified": len(latencies)}
        | percentiles_ms(latencies)
        | {"max_ms": 1000 * max(latencies, default=float("nan"))}
        | stages
        | {
            "target": f"p99 < {NOTIFY_TARGET_MS:.0f} ms at {args.rate:g}/s",
            "target_met": p99 < NOTIFY_TARGET_MS,
        }
        | resources(monitor.cpu, monitor.peak_rss_mb())
        | {
            "checks": f"{len(watched) - len(latencies)} incidents without a Slack call",
            "checks_passed": len(latencies) == len(watched),
        }
    )


# --- report ---------------------------------------------------------------------------------


def mixed_docs(rows: list[dict[str, Any]], command: str, args: argparse.Namespace) -> str:
    table = markdown_table(
        ["load", "action", "accepted", "p50 ms", "p95 ms", "p99 ms"],
        (
            [row["name"], kind,
             sum(v for k, v in _outcomes(row).items() if k.startswith(kind + ":")),
             fmt(row[f"{kind}_p50_ms"]), fmt(row[f"{kind}_p95_ms"]), fmt(row[f"{kind}_p99_ms"])]
            for row in rows
            for kind in ACTIONS
        ),
        "llrrrr",
    )  # fmt: skip
    counts = markdown_table(
        ["load", "sent", "accepted", "errors", "incidents opened", "acknowledged", "resolved",
         "read side caught up", "missing incidents", "unexpected", "wrong alertCount",
         "missing alert rows", "wrong status"],
        ([row["name"], row["sent"], row["ok"], row["errors"], row["incidents_opened"],
          row["acknowledged"], row["resolved"], f"{fmt(row['catch_up_s'])} s",
          row["missing_incidents"], row["unexpected_incidents"], row["wrong_alert_count"],
          row["missing_alert_rows"], row["wrong_status"]] for row in rows),
        "lrrrrrrrrrrrr",
    )  # fmt: skip
    targets = [
        (f"{row['name']}: nothing lost (sent and accepted vs the read side)", row["checks"],
         row["checks_passed"])
        for row in rows
    ] + [
        (f"{row['name']}: no request failed", f"{row['errors']} errors", row["errors"] == 0)
        for row in rows
    ]  # fmt: skip
    achieved = "; ".join(
        f"at {row['name'].removeprefix('mixed at ')} {fmt(row['per_second'])} accepted/s, "
        f"p99 {fmt(row['p99_ms'])} ms over all actions (outcomes: {row['outcomes']})"
        for row in rows
    )
    intro = (
        f"{args.services} services (one integration each), {args.keys} dedup keys per service "
        f"drawn by a Zipf law (exponent {args.zipf:g}), 70 % trigger / 20 % acknowledge / 10 % "
        f"resolve, open loop for {args.seconds:g} s (at most {args.max_in_flight} in flight; "
        f"latency from when each request was due), at {args.rate:g} requests/s and, on a "
        f"fresh stack, at half that rate. Achieved {achieved}."
    )
    return section(MIXED_HEADING, command, intro, table + "\n\n" + counts, rows, targets)


def _outcomes(row: dict[str, Any]) -> dict[str, int]:
    pairs = (item.rsplit("=", 1) for item in str(row["outcomes"]).split())
    return {k: int(v) for k, v in pairs}


def notify_docs(rows: list[dict[str, Any]], command: str, args: argparse.Namespace) -> str:
    table = markdown_table(
        ["measure", "load", "incidents", "notified", "p50 ms", "p95 ms", "p99 ms", "max ms"],
        ([row["name"], row["load"], row["incidents"], row["notified"], fmt(row["p50_ms"]),
          fmt(row["p95_ms"]), fmt(row["p99_ms"]), fmt(row["max_ms"])] for row in rows),
        "llrrrrrr",
    )  # fmt: skip
    targets = [(row["target"], f"{fmt(row['p99_ms'])} ms", row["target_met"]) for row in rows] + [
        (f"{row['load']}: every new incident reached Slack", row["checks"], row["checks_passed"])
        for row in rows
    ]
    intro = (
        f"Measured in the run of section 3: {args.notify_services} of its services have a Slack "
        "channel and a one-step policy paging a user with a Slack contact; Slack is the local "
        "fake Web API (real slack_sdk client, loopback HTTP). Latency is from sending a trigger "
        "that opened an incident to the first `chat.postMessage` about it (the channel "
        "announcement or the page). CPU and memory: those of the mixed runs, section 3."
    )
    stages = (
        "Where the time went, from each incident's workflow history "
        "(`bench/notify_stages.py`; the server's clock is this machine's):\n\n"
        + notify_stages.table(rows)
    )
    return section(NOTIFY_HEADING, command, intro, f"{table}\n\n{stages}", [], targets)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.mixed", description=__doc__)
    add_common_options(parser)
    parser.add_argument("--services", type=int, help="(200; smoke 20)")
    parser.add_argument("--notify-services", type=int, help="with Slack paging (20; smoke 4)")
    parser.add_argument("--keys", type=int, default=50, help="dedup keys per service")
    parser.add_argument("--zipf", type=float, default=1.1, help="exponent of the key law")
    parser.add_argument("--rate", type=float, help="requests per second (50; smoke 20)")
    parser.add_argument("--seconds", type=float, help="(60; smoke 3)")
    parser.add_argument("--max-in-flight", type=int, default=256)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--no-half", action="store_true", help="only the run at --rate")
    args = parser.parse_args(argv)
    args.services = args.services or (20 if args.smoke else 200)
    args.notify_services = min(args.services, args.notify_services or (4 if args.smoke else 20))
    args.rate = args.rate or (20.0 if args.smoke else 50.0)
    args.seconds = args.seconds or (3.0 if args.smoke else 60.0)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mixed_rows, notify_rows = [], []
    with fake_slack() as slack:
        env = {"TOCSIN_SLACK_BOT_TOKEN": TEST_BOT_TOKEN, "TOCSIN_SLACK_API_URL": slack.api_url}
        for rate in loads(args):
            run_args = argparse.Namespace(**vars(args) | {"rate": rate})
            with stack_for("mixed", env) as stack:
                run_args.database_url = stack.database_url
                run_args.temporal_address = stack.temporal_address
                mixed, notify = asyncio.run(measure(stack, slack, run_args))
            mixed_rows.append(mixed)
            notify_rows.append(notify)
            print(
                f"mixed at {rate:g}/s: {mixed['per_second']:.1f}/s p99 {fmt(mixed['p99_ms'])} ms "
                f"(trigger {fmt(mixed['trigger_p99_ms'])}, ack "
                f"{fmt(mixed['acknowledge_p99_ms'])}, resolve {fmt(mixed['resolve_p99_ms'])}); "
                f"{mixed['checks']}; caught up {fmt(mixed['catch_up_s'])} s"
            )
            print(
                f"notify at {rate:g}/s: {notify['notified']}/{notify['incidents']} p50 "
                f"{fmt(notify['p50_ms'])} ms p99 {fmt(notify['p99_ms'])} ms"
            )
    when = stamp()
    write_csv(args.results_dir / f"mixed-{when}.csv", mixed_rows)
    write_csv(args.results_dir / f"notify-{when}.csv", notify_rows)
    print(f"wrote mixed-{when}.csv and notify-{when}.csv in {args.results_dir}")
    if args.write_docs:
        command = command_line("bench.mixed", argv)
        write_docs(mixed_docs(mixed_rows, command, args), MIXED_HEADING)
        write_docs(notify_docs(notify_rows, command, args), NOTIFY_HEADING)
    return report_failures(mixed_rows + notify_rows)


if __name__ == "__main__":
    sys.exit(main())
