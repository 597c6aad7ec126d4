"""Scenario 1, distinct keys: every trigger opens a new incident.

First closed loops (``--concurrency`` in flight, as fast as the stack answers; ``--pairs``
of them, each next to a run of ceiling (a), see bench/pairs.py) find the saturating rate,
then an open loop at half that rate measures the latency a busy but not
overloaded stack gives (target p99 < 300 ms). The saturating rate is the run rate below:
half the accepted rate was 80-100 % of the run rate (the server accepts starts faster than
the stack runs them), a load the stack barely keeps up with rather than half of one. After
each, every accepted trigger must be exactly one incident on the read side; how long the
read side took to catch up is reported.
The saturating rate is compared with ceiling (a), SignalWithStart with a bare worker, twice:
as accepted (answers per second, both sides) and as run (each incident counted when its
first workflow task has written the read side, each bare workflow when it finished: accepted
over the time from the first call to the last one run). The target (≥ 80 %) is judged on
the run rates, what each side sustains, as the median of the pairs' ratios; the server
answers starts ahead of their workflow tasks, so accepted rates alone leave part of each
side's work after the measurement.

Run: ``python -m bench.distinct [--smoke] [--ceilings CSV] [--write-docs]``.
"""

import argparse
import asyncio
import statistics
import sys
import uuid
from functools import partial
from typing import Any

from bench import ceilings
from bench.client import Tenant, provision, query, trigger_call
from bench.http import Http, http_client
from bench.load import Run, closed_loop, open_loop
from bench.pairs import median_ratio, paired_bare_worker, quiet, side_by_side
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
    warm, paced, *saturate = await provision(stack.database_url, 2 + args.pairs, "distinct")
    tag = uuid.uuid4().hex[:6]
    ceiling = ceilings.load(args.ceilings)
    rows: list[dict[str, Any]] = []
    with paired_bare_worker(stack) as bare:
        async with http_client(stack.api_url, args.concurrency * 4) as http:
            # Warm-up: connections and pools, and the worker is projecting.
            warm_run = await closed_loop(
                trigger_call(http, warm, lambda n: f"w-{tag}-{n}"),
                concurrency=4,
                count=16,
            )
            await check(stack, warm, warm_run)
            for n, tenant in enumerate(saturate, 1):
                name = f"closed loop (saturating), pair {n} of {args.pairs}"
                paired, row = await side_by_side(
                    n % 2 == 1,
                    partial(bare.measure, args.seconds, args.concurrency),
                    partial(saturating, stack, http, tenant, name, f"s{n}-{tag}", args, ceiling),
                )
                rows.append(
                    row
                    | {
                        "paired_ceiling_run_per_second": paired.per_second,
                        "paired_ceiling_stack_cpu": paired.stack_cpu,
                        "ratio_run_to_paired_ceiling": ratio(
                            row["run_per_second"], paired.per_second
                        ),
                    }
                )
            rows.append(judged(rows, args))
            rate = max(rows[-1]["run_per_second"] / 2, 1.0)
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


async def saturating(
    stack: Stack,
    http: Http,
    tenant: Tenant,
    name: str,
    prefix: str,
    args: argparse.Namespace,
    ceiling: dict[str, float],
) -> dict[str, Any]:
    """One closed loop of new incidents, as accepted and as run (until the read side holds
    every one), with its ratios to the ceilings section's run."""
    await quiet(stack)
    with Monitor(roots(stack)) as monitor:
        run = await closed_loop(
            trigger_call(http, tenant, lambda n: f"{prefix}-{n}"),
            concurrency=args.concurrency,
            seconds=args.seconds,
        )
    lag, failures = await check(stack, tenant, run)
    run_rate = run.ok / (run.elapsed + lag)
    return (
        {"name": name, "load": f"{args.concurrency} in flight"}
        | run.summary()
        | {
            "run_per_second": run_rate,
            "ratio_run_to_sws_bare_worker": ratio(run_rate, ceiling.get(ceilings.SWS_WORKER_RUN)),
            "ratio_to_sws_bare_worker": ratio(run.rate, ceiling.get(ceilings.SWS_WORKER)),
            "ratio_to_sws_no_worker": ratio(run.rate, ceiling.get(ceilings.SWS)),
            "catch_up_s": lag,
        }
        | resources(monitor.cpu, monitor.peak_rss_mb())
        | {"checks": "; ".join(failures) or "every accepted trigger is one incident"}
        | {"checks_passed": not failures}
    )


def judged(pairs: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """The row the ratio target is judged on: the median over the pairs."""
    paired = median_ratio(
        [(r["run_per_second"], r["paired_ceiling_run_per_second"]) for r in pairs]
    )
    return {
        "name": f"closed loop (saturating), median of {len(pairs)} pairs",
        "load": f"{args.concurrency} in flight",
        "run_per_second": statistics.median(r["run_per_second"] for r in pairs),
        "paired_ceiling_run_per_second": statistics.median(
            r["paired_ceiling_run_per_second"] for r in pairs
        ),
        "ratio_run_to_paired_ceiling": paired,
        "ratio_run_to_sws_bare_worker": statistics.median(
            r["ratio_run_to_sws_bare_worker"] for r in pairs
        ),
        "target": f"≥ {RATIO_TARGET:.0%} of ceiling (a) with bare worker, as run, "
        "median of the pairs",
        "target_met": paired >= RATIO_TARGET,
        "checks": "each pair's checks above",
        "checks_passed": all(r["checks_passed"] for r in pairs),
    }


def docs(rows: list[dict[str, Any]], command: str, args: argparse.Namespace) -> str:
    nan = float("nan")
    table = markdown_table(
        ["run", "load", "accepted/s", "run/s", "paired (a) run/s", "stack's cores meanwhile",
         "vs paired (a)",
         "vs (a) bare worker, run", "vs (a) bare worker, accepted", "vs (a) no worker",
         "p50 ms", "p95 ms", "p99 ms", "sent", "errors", "read side caught up", "checks"],
        (
            [r["name"], r["load"], fmt(r.get("per_second", nan)),
             fmt(r.get("run_per_second", nan)), fmt(r.get("paired_ceiling_run_per_second", nan)),
             fmt(r.get("paired_ceiling_stack_cpu", nan), 2),
             fmt(r.get("ratio_run_to_paired_ceiling", nan), 2),
             fmt(r.get("ratio_run_to_sws_bare_worker", nan), 2),
             fmt(r.get("ratio_to_sws_bare_worker", nan), 2),
             fmt(r.get("ratio_to_sws_no_worker", nan), 2), fmt(r.get("p50_ms", nan)),
             fmt(r.get("p95_ms", nan)), fmt(r.get("p99_ms", nan)), r.get("sent", ""),
             r.get("errors", ""),
             f"{fmt(r['catch_up_s'])} s" if "catch_up_s" in r else "", r["checks"]]
            for r in rows
        ),
        "llrrrrrrrrrrrrrrl",
    )  # fmt: skip
    *_, closed, paced = rows
    targets = [
        (closed["target"], fmt(closed["ratio_run_to_paired_ceiling"], 2), closed["target_met"]),
        (paced["target"], f"{fmt(paced['p99_ms'])} ms", paced["target_met"]),
    ]
    intro = (
        f"Triggers with a new dedup key each through `POST /api/events`: {args.pairs} closed "
        f"loops of {args.concurrency} for {args.seconds:g} s, each paired with ceiling (a) as "
        "run measured right before or after it (bench/pairs.py: the machine's speed drifts "
        "by more than the margin within minutes, so each pair shares its minute, and the "
        "target is judged on the median of the pairs' ratios), then an open loop at half "
        f"their median run rate for {args.seconds:g} s (latency from when each request was "
        "due). The paired ceiling is the bare worker's run rate on this scenario's own "
        "Temporal server (ceilings.py's measurement, other task queue; 'stack's cores "
        "meanwhile' is what Tocsin's API, worker and PostgreSQL took during it); the other "
        "ratios are "
        "to the section Ceilings of the same run. 'read side caught up' is how long after "
        "the last answer PostgreSQL held every accepted trigger as its own incident. 'run/s' "
        "counts an incident once its first workflow task has written it to the read side "
        "(accepted over the closed loop's time plus that catch-up), as the ceiling's 'every "
        "workflow run' counts a bare workflow once the bare worker finished it; the target "
        "is judged on these, what each side sustains (accepted rates leave part of the work "
        "after the measurement, on both sides)."
    )
    measured = [r for r in rows if "per_second" in r]
    return section(HEADING, command, intro, table, measured, targets)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.distinct", description=__doc__)
    add_common_options(parser)
    add_ceiling_option(parser)
    parser.add_argument("--seconds", type=float, help="per run (15; smoke 1.5)")
    parser.add_argument("--concurrency", type=int, help="closed loop in flight (32; smoke 8)")
    parser.add_argument(
        "--pairs", type=int, help="closed loops, each with its own ceiling (a) run (3; smoke 2)"
    )
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (1.5 if args.smoke else 15.0)
    args.concurrency = args.concurrency or (8 if args.smoke else 32)
    args.pairs = args.pairs or (2 if args.smoke else 3)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with stack_for("distinct") as stack:
        rows = asyncio.run(measure(stack, args))
    path = write_csv(args.results_dir / f"distinct-{stamp()}.csv", rows)
    for r in rows:
        if "per_second" in r:
            print(f"{r['name']}: {r['per_second']:.1f}/s p99 {fmt(r['p99_ms'])} ms; {r['checks']}")
        else:
            print(
                f"{r['name']}: run {r['run_per_second']:.1f}/s, "
                f"{fmt(r['ratio_run_to_paired_ceiling'], 2)} of the paired ceiling (a)"
            )
    print(f"wrote {path}")
    if args.write_docs:
        write_docs(docs(rows, command_line("bench.distinct", argv), args), HEADING)
    return report_failures(rows)


if __name__ == "__main__":
    sys.exit(main())
