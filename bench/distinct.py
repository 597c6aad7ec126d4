"""Scenario 1, distinct keys: every trigger opens a new incident.

First a closed loop (``--concurrency`` in flight, as fast as the stack answers) finds the
saturating rate, then an open loop at half that rate measures the latency a busy but not
overloaded stack gives (target p99 < 300 ms). The saturating rate is the run rate below:
half the accepted rate was 80-100 % of the run rate (the server accepts starts faster than
the stack runs them), a load the stack barely keeps up with rather than half of one. After
each, every accepted trigger must be exactly one incident on the read side; how long the
read side took to catch up is reported.
The saturating rate is compared with ceiling (a), SignalWithStart with a bare worker, twice:
as accepted (answers per second, both sides) and as run (each incident counted when its
first workflow task has written the read side, each bare workflow when it finished: accepted
over the time from the first call to the last one run). The target (≥ 80 %) is judged on
the run rates, what each side sustains; the server answers starts ahead of their workflow
tasks, so accepted rates alone leave part of each side's work after the measurement.

Run: ``python -m bench.distinct [--smoke] [--ceilings CSV] [--write-docs]``.
"""

import argparse
import asyncio
import sys
import uuid
from typing import Any

from bench import ceilings
from bench.client import Tenant, provision, query, trigger_call
from bench.http import http_client
from bench.load import Run, closed_loop, open_loop
from bench.report import (
    add_common_options,
    fmt,
    markdown_table,
    resources,
    stamp,
    write_csv,
    write_docs,
)
from bench.scenario import (
    add_ceiling_option,
    command_line,
    ratio,
    report_failures,
    section,
    stack_for,
    wait_until,
)
from bench.stack import Monitor, Stack, roots

HEADING = "## 1. Distinct keys"
RATIO_TARGET = 0.8
P99_TARGET_MS = 300.0
CATCH_UP_LIMIT = 60.0


async def read_side(stack: Stack, tenant: Tenant) -> dict[str, int]:
    rows = await query(
        stack.database_url,
        "SELECT count(*) AS incidents, count(DISTINCT dedup_key) AS keys,"
        " coalesce(sum(alert_count), 0) AS alerts FROM incident WHERE service_id = :service",
        service=tenant.service_id,
    )
    return {k: int(v) for k, v in rows[0].items()}


async def check(stack: Stack, tenant: Tenant, run: Run) -> tuple[float, list[str]]:
    """Wait until the read side holds every accepted trigger, then compare exactly."""

    async def caught_up() -> bool:
        return (await read_side(stack, tenant))["incidents"] >= run.ok

    lag = await wait_until(caught_up, CATCH_UP_LIMIT)
    held = await read_side(stack, tenant)
    failures = []
    if not held["incidents"] == held["keys"] == held["alerts"] == run.ok:
        failures.append(f"read side {held} for {run.ok} accepted triggers")
    if run.outcomes["trigger:triggered"] != run.ok:
        failures.append(f"{run.outcomes['trigger:triggered']} answered 'triggered' of {run.ok}")
    return lag, failures


async def measure(stack: Stack, args: argparse.Namespace) -> list[dict[str, Any]]:
    warm, saturate, paced = await provision(stack.database_url, 3, "distinct")
    tag = uuid.uuid4().hex[:6]
    ceiling = ceilings.load(args.ceilings)
    rows: list[dict[str, Any]] = []
    async with http_client(stack.api_url, args.concurrency * 4) as http:
        # Warm-up: connections and pools, and the worker is projecting.
        warm_run = await closed_loop(
            trigger_call(http, warm, lambda n: f"w-{tag}-{n}"),
            concurrency=4,
            count=16,
        )
        await check(stack, warm, warm_run)
        with Monitor(roots(stack)) as monitor:
            run = await closed_loop(
                trigger_call(http, saturate, lambda n: f"s-{tag}-{n}"),
                concurrency=args.concurrency,
                seconds=args.seconds,
            )
        lag, failures = await check(stack, saturate, run)
        run_rate = run.ok / (run.elapsed + lag)
        vs_worker = ratio(run_rate, ceiling.get(ceilings.SWS_WORKER_RUN))
        rows.append(
            {"name": "closed loop (saturating)", "load": f"{args.concurrency} in flight"}
            | run.summary()
            | {
                "run_per_second": run_rate,
                "ratio_run_to_sws_bare_worker": vs_worker,
                "ratio_to_sws_bare_worker": ratio(run.rate, ceiling.get(ceilings.SWS_WORKER)),
                "ratio_to_sws_no_worker": ratio(run.rate, ceiling.get(ceilings.SWS)),
                "target": f"≥ {RATIO_TARGET:.0%} of ceiling (a) with bare worker, as run",
                "target_met": vs_worker >= RATIO_TARGET,
                "catch_up_s": lag,
            }
            | resources(monitor.cpu, monitor.peak_rss_mb())
            | {"checks": "; ".join(failures) or "every accepted trigger is one incident"}
            | {"checks_passed": not failures}
        )
        rate = max(run_rate / 2, 1.0)
        with Monitor(roots(stack)) as monitor:
            paced_run = await open_loop(
                trigger_call(http, paced, lambda n: f"p-{tag}-{n}"),
                rate=rate,
                seconds=args.seconds,
                max_in_flight=args.concurrency * 4,
            )
        lag, more = await check(stack, paced, paced_run)
        rows.append(
            {"name": "open loop (half the saturating rate)", "load": f"{rate:.1f}/s offered"}
            | paced_run.summary()
            | {
                "target": f"p99 < {P99_TARGET_MS:.0f} ms",
                "target_met": paced_run.ms(0.99) < P99_TARGET_MS,
                "catch_up_s": lag,
            }
            | resources(monitor.cpu, monitor.peak_rss_mb())
            | {"checks": "; ".join(more) or "every accepted trigger is one incident"}
            | {"checks_passed": not more}
        )
    return rows


def docs(rows: list[dict[str, Any]], command: str, args: argparse.Namespace) -> str:
    table = markdown_table(
        ["run", "load", "accepted/s", "run/s", "vs (a) bare worker, run",
         "vs (a) bare worker, accepted", "vs (a) no worker", "p50 ms", "p95 ms", "p99 ms",
         "sent", "errors", "read side caught up", "checks"],
        (
            [r["name"], r["load"], fmt(r["per_second"]),
             fmt(r.get("run_per_second", float("nan"))),
             fmt(r.get("ratio_run_to_sws_bare_worker", float("nan")), 2),
             fmt(r.get("ratio_to_sws_bare_worker", float("nan")), 2),
             fmt(r.get("ratio_to_sws_no_worker", float("nan")), 2), fmt(r["p50_ms"]),
             fmt(r["p95_ms"]), fmt(r["p99_ms"]), r["sent"], r["errors"],
             f"{fmt(r['catch_up_s'])} s", r["checks"]]
            for r in rows
        ),
        "llrrrrrrrrrrrl",
    )  # fmt: skip
    closed, paced = rows
    targets = [
        (closed["target"], fmt(closed["ratio_run_to_sws_bare_worker"], 2), closed["target_met"]),
        (paced["target"], f"{fmt(paced['p99_ms'])} ms", paced["target_met"]),
    ]
    intro = (
        f"Triggers with a new dedup key each through `POST /api/events`: a closed loop of "
        f"{args.concurrency} for {args.seconds:g} s, then an open loop at half its run rate for "
        f"{args.seconds:g} s (latency from when each request was due). Ratios are to ceiling "
        "(a) of the same run (section Ceilings); 'read side caught up' is how long after the "
        "last answer PostgreSQL held every accepted trigger as its own incident. 'run/s' "
        "counts an incident once its first workflow task has written it to the read side "
        "(accepted over the closed loop's time plus that catch-up), as the ceiling's 'every "
        "workflow run' counts a bare workflow once the bare worker finished it; the target "
        "is judged on these, what each side sustains (accepted rates leave part of the work "
        "after the measurement, on both sides)."
    )
    return section(HEADING, command, intro, table, rows, targets)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.distinct", description=__doc__)
    add_common_options(parser)
    add_ceiling_option(parser)
    parser.add_argument("--seconds", type=float, help="per run (15; smoke 1.5)")
    parser.add_argument("--concurrency", type=int, help="closed loop in flight (32; smoke 8)")
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (1.5 if args.smoke else 15.0)
    args.concurrency = args.concurrency or (8 if args.smoke else 32)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with stack_for("distinct") as stack:
        rows = asyncio.run(measure(stack, args))
    path = write_csv(args.results_dir / f"distinct-{stamp()}.csv", rows)
    for r in rows:
        print(f"{r['name']}: {r['per_second']:.1f}/s p99 {fmt(r['p99_ms'])} ms; {r['checks']}")
    print(f"wrote {path}")
    if args.write_docs:
        write_docs(docs(rows, command_line("bench.distinct", argv), args), HEADING)
    return report_failures(rows)


if __name__ == "__main__":
    sys.exit(main())
