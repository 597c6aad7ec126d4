"""Scale of open incidents: what 20,000 open incidents sleeping on escalation timers cost.

Starts the stack as ``tocsin up`` does, with Slack at the local fake (bench/escalation.py),
and one service whose policy pages a first person at once and a second person 24 hours
(the longest delay) later. ``--incidents`` triggers go through the API, paced at ``--rate``
per second with at most ``--concurrency`` in flight and at most ``--backlog`` ahead of the
incidents whose page reached someone (the read side shows them assigned): creation goes at
the pace the stack sustains on this machine, and the workflows being worked on stay in the
worker's sticky cache. Once every step 1 has paged, each incident's workflow sleeps on its
step-2 timer. Then, with nothing sent, once the worker and the Temporal server are at rest
(their CPU under ``REST_CORES`` for a few seconds: what is left of the deliveries is done):

- idle: CPU (cores) and RSS of the worker, the Temporal dev server, the API and PostgreSQL
  over ``--idle-seconds``;
- the worker's sticky cache (temporalio ``Worker(max_cached_workflows=1000)`` by default):
  workflows beyond it are evicted, and an evicted workflow is replayed from its history on
  its next task (its timer, an acknowledge, a query). The probe queries the ``--probe``
  oldest incidents (evicted if there are more than the cache holds) and the newest (cached)
  through a bare Temporal client and compares the latencies: the difference is what an
  eviction costs each time such a workflow wakes.

Run: ``python -m bench.idle [--smoke] [--write-docs] [--results-dir DIR]``.
"""

import argparse
import asyncio
import math
import shlex
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bench.escalation import provision, stack_with_slack
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
from bench.stack import Monitor, Stack, components, cpu_snapshot, roots
from models import Incident, TimelineEntry
from models.db import create_engine, session_scope
from tocsin.settings import Settings
from tocsin.temporal import connect

SECTION = "## Open incidents at rest"
# temporalio.worker.Worker's default; worker.py does not change it.
STICKY_CACHE = 1000
LONG_DELAY_MINUTES = 1440
SETTLE_TIMEOUT = 600.0
# At rest: the worker and the Temporal server together under this many cores over a window.
REST_CORES = 0.1
REST_WINDOW = 5.0
REST_TIMEOUT = 900.0


def rss_mb(stack: Stack) -> dict[str, float]:
    """Resident memory now (VmRSS) per component, summed over its processes."""
    out: dict[str, float] = {}
    for name, procs in components(roots(stack)).items():
        total = 0
        for pid in procs:
            with suppress(OSError, StopIteration, ValueError):
                status = Path(f"/proc/{pid}/status").read_text().splitlines()
                total += int(next(line.split()[1] for line in status if line.startswith("VmRSS:")))
        out[name] = total / 1024
    return out


async def step_one_pages(engine: AsyncEngine) -> int:
    """Step-1 pages the read side shows (escalation entries: one per incident here)."""
    async with session_scope(engine) as session:
        query = select(func.count()).select_from(TimelineEntry)
        return int((await session.exec(query.where(TimelineEntry.kind == "escalation"))).one())


async def assigned(engine: AsyncEngine) -> int:
    """Incidents whose step-1 page reached someone (who became the assignee)."""
    async with session_scope(engine) as session:
        query = select(func.count()).select_from(Incident)
        return int((await session.exec(query.where(col(Incident.assignee_id).is_not(None)))).one())


async def at_rest(stack: Stack) -> float:
    """Seconds until the worker and the Temporal server use under ``REST_CORES`` together
    over ``REST_WINDOW`` seconds (NaN if not within ``REST_TIMEOUT``)."""
    began = time.monotonic()
    before = cpu_snapshot(stack)
    while time.monotonic() - began < REST_TIMEOUT:
        await asyncio.sleep(REST_WINDOW)
        after = cpu_snapshot(stack)
        busy = sum(after[n] - before.get(n, 0.0) for n in ("worker", "temporal")) / REST_WINDOW
        if busy < REST_CORES:
            return time.monotonic() - began
        before = after
    return float("nan")


class Backlog:
    """How far the triggers sent are ahead of the incidents whose page reached someone."""

    def __init__(self, stack: Stack, limit: int) -> None:
        self._engine = create_engine(Settings(database_url=stack.database_url))
        self._limit = limit
        self.paged = 0
        self.held = 0  # triggers that waited for the read side
        self._moved = asyncio.Condition()

    async def follow(self) -> None:
        while True:
            paged = await assigned(self._engine)
            async with self._moved:
                self.paged = paged
                self._moved.notify_all()
            await asyncio.sleep(0.5)

    async def room_for(self, n: int) -> None:
        """Until trigger ``n`` (0-based) would be less than the limit ahead."""
        async with self._moved:
            if n - self.paged >= self._limit:
                self.held += 1
            await self._moved.wait_for(lambda: n - self.paged < self._limit)

    async def close(self) -> None:
        await self._engine.dispose()


async def create(
    stack: Stack, key: str, args: argparse.Namespace
) -> tuple[float, list[float], Counter[str], int]:
    """Paced triggers, each a new incident; returns the seconds it took, the 202 latencies,
    every answer's label and how many triggers waited for the read side."""
    backlog = Backlog(stack, args.backlog)
    following = asyncio.create_task(backlog.follow())
    try:
        return *await _create(stack, key, args, backlog), backlog.held
    finally:
        following.cancel()
        await backlog.close()


async def _create(
    stack: Stack, key: str, args: argparse.Namespace, backlog: Backlog
) -> tuple[float, list[float], Counter[str]]:
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    headers = {"Authorization": f"Token token={key}"}
    bound = asyncio.Semaphore(args.concurrency)
    run = uuid.uuid4().hex[:6]
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60, limits=limits) as http:
        began = time.monotonic()

        async def trigger(n: int) -> None:
            await asyncio.sleep(max(0.0, began + n / args.rate - time.monotonic()))
            await backlog.room_for(n)
            body = {
                "event_action": "trigger",
                "dedup_key": f"idle-{run}-{n}",
                "payload": {"summary": f"idle {n}", "source": "bench", "severity": "critical"},
            }
            async with bound:
                started = time.monotonic()
                try:
                    response = await http.post("/api/events", json=body, headers=headers)
                except httpx.HTTPError as err:
                    outcomes[type(err).__name__] += 1
                    return
            outcomes[f"HTTP {response.status_code}"] += 1
            if response.status_code == 202:
                latencies.append(time.monotonic() - started)

        # One task per trigger, started in slices so 20,000 sleeping tasks never exist at once.
        for first in range(0, args.incidents, 1000):
            await asyncio.gather(
                *(trigger(n) for n in range(first, min(first + 1000, args.incidents)))
            )
        return time.monotonic() - began, latencies, outcomes


async def settled(stack: Stack, expected: int) -> tuple[int, int, float]:
    """Wait until the read side has every incident and every step 1 has fired: from then on
    the workflows only wait on timers. Returns (incidents, step-1 entries, seconds waited)."""
    engine = create_engine(Settings(database_url=stack.database_url))
    began = time.monotonic()
    try:
        while True:
            async with session_scope(engine) as session:
                incidents = (await session.exec(select(func.count()).select_from(Incident))).one()
            fired = await step_one_pages(engine)
            done = incidents >= expected and fired >= expected
            if done or time.monotonic() - began > SETTLE_TIMEOUT:
                return int(incidents), int(fired), time.monotonic() - began
            await asyncio.sleep(1.0)
    finally:
        await engine.dispose()


async def probe(stack: Stack, count: int) -> dict[str, list[float]]:
    """Query latencies of the oldest and the newest incidents' workflows, one at a time."""
    engine = create_engine(Settings(database_url=stack.database_url))
    try:
        async with session_scope(engine) as session:
            ordered = select(Incident.workflow_id).order_by(col(Incident.created_at))
            oldest = list((await session.exec(ordered.limit(count))).all())
            newest = list(
                (
                    await session.exec(
                        select(Incident.workflow_id)
                        .order_by(col(Incident.created_at).desc())
                        .limit(count)
                    )
                ).all()
            )
    finally:
        await engine.dispose()
    client = await connect(Settings(temporal_address=stack.temporal_address))
    out: dict[str, list[float]] = {"oldest": [], "newest": []}
    # Newest first: querying the oldest would itself load them and evict newer ones.
    for name, ids in (("newest", newest), ("oldest", oldest)):
        for workflow_id in ids:
            started = time.perf_counter()
            await client.get_workflow_handle(workflow_id).query("incident")
            out[name].append(time.perf_counter() - started)
    return out


async def history_length(stack: Stack) -> int:
    engine = create_engine(Settings(database_url=stack.database_url))
    try:
        async with session_scope(engine) as session:
            workflow_id = (await session.exec(select(Incident.workflow_id).limit(1))).one()
    finally:
        await engine.dispose()
    client = await connect(Settings(temporal_address=stack.temporal_address))
    return (await client.get_workflow_handle(workflow_id).describe()).history_length


@dataclass
class Outcome:
    incidents: int
    create_seconds: float
    create_latencies: list[float]
    create_outcomes: Counter[str]
    held_back: int  # triggers that waited for the read side (--backlog)
    settle_seconds: float
    rest_seconds: float  # from every step 1 paged to the stack at rest; NaN: never
    step1_fired: int
    create_cpu: dict[str, float]
    idle_seconds: float
    idle_cpu: dict[str, float]
    idle_rss_mb: dict[str, float]
    peak_rss_mb: dict[str, float]
    probe_ms: dict[str, list[float]]
    probe_cpu: dict[str, float]
    history_events: int

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "incidents": self.incidents,
            "create_seconds": self.create_seconds,
            "create_rate": len(self.create_latencies) / self.create_seconds,
            "held_back": self.held_back,
            "settle_seconds": self.settle_seconds,
            "rest_seconds": self.rest_seconds,
            "step1_fired": self.step1_fired,
        }
        for q in (0.5, 0.95, 0.99):
            out[f"create_p{round(q * 100)}_ms"] = 1000 * nearest_rank(self.create_latencies, q)
        out |= {f"idle_cpu_{k}": v for k, v in self.idle_cpu.items()}
        out |= {f"idle_rss_{k}_mb": v for k, v in self.idle_rss_mb.items()}
        out |= {f"peak_rss_{k}_mb": v for k, v in self.peak_rss_mb.items()}
        for name, values in self.probe_ms.items():
            out[f"query_{name}_p50_ms"] = 1000 * nearest_rank(values, 0.5)
            out[f"query_{name}_p99_ms"] = 1000 * nearest_rank(values, 0.99)
        out["history_events"] = self.history_events
        return out


async def measure_with(stack: Stack, key: str, args: argparse.Namespace) -> Outcome:
    with Monitor(roots(stack)) as whole:
        with Monitor(roots(stack)) as creating:
            seconds, latencies, outcomes, held = await create(stack, key, args)
            print(f"{len(latencies)} triggers accepted in {seconds:.1f}s", flush=True)
            incidents, fired, waited = await settled(stack, len(latencies))
        print(f"{incidents} incidents, {fired} step-1 pages after {waited:.1f}s", flush=True)
        rested = await at_rest(stack)  # the deliveries left drain before measuring
        print(f"at rest after {rested:.1f}s", flush=True)
        await asyncio.sleep(args.quiet_seconds)
        with Monitor(roots(stack)) as idle:
            await asyncio.sleep(args.idle_seconds)
        resting = rss_mb(stack)
        with Monitor(roots(stack)) as probing:
            probed = await probe(stack, args.probe)
        events = await history_length(stack)
    return Outcome(
        incidents=incidents, create_seconds=seconds, create_latencies=latencies,
        create_outcomes=outcomes, held_back=held, settle_seconds=waited, rest_seconds=rested,
        step1_fired=fired,
        create_cpu=creating.cpu, idle_seconds=idle.elapsed, idle_cpu=idle.cpu,
        idle_rss_mb=resting, peak_rss_mb=whole.peak_rss_mb(), probe_ms=probed,
        probe_cpu=probing.cpu, history_events=events,
    )  # fmt: skip


def checks(outcome: Outcome, args: argparse.Namespace) -> list[str]:
    failed = []
    accepted = len(outcome.create_latencies)
    if accepted != args.incidents:
        failed.append(
            f"{accepted} of {args.incidents} triggers accepted: {outcome.create_outcomes}"
        )
    if outcome.incidents != accepted or outcome.step1_fired != accepted:
        failed.append(
            f"{outcome.incidents} incidents and {outcome.step1_fired} step-1 pages for "
            f"{accepted} triggers"
        )
    if math.isnan(outcome.rest_seconds):
        failed.append(f"the worker and the Temporal server never came to rest ({REST_TIMEOUT:g} s)")
    return failed


def reading(outcome: Outcome) -> str:
    """What this run says about the sticky cache, from its own numbers."""
    old = 1000 * nearest_rank(outcome.probe_ms["oldest"], 0.5)
    new = 1000 * nearest_rank(outcome.probe_ms["newest"], 0.5)
    evicted = max(0, outcome.incidents - STICKY_CACHE)
    if not evicted:
        return (
            f"All {outcome.incidents} workflows fit the worker's sticky cache "
            f"({STICKY_CACHE}): none was evicted (query p50 oldest {old:.1f} ms, newest "
            f"{new:.1f} ms)."
        )
    cost = (
        f"it is replayed from its {outcome.history_events}-event history on its next task: a "
        f"query to one of the oldest took p50 {old:.1f} ms against {new:.1f} ms for a cached "
        f"one, i.e. ~{old - new:.0f} ms more per wake-up (the step-2 timer, an "
        "acknowledge, a resolve)"
        if old > 1.5 * new
        else f"the probe saw no clear replay cost (query p50 oldest {old:.1f} ms, newest "
        f"{new:.1f} ms; {outcome.history_events}-event histories replay quickly)"
    )
    return (
        f"The worker's sticky cache holds {STICKY_CACHE} workflows, so about {evicted:,} of "
        f"the {outcome.incidents:,} open incidents were evicted while they were created. An "
        f"evicted workflow costs nothing while it sleeps (worker CPU at rest "
        f"{outcome.idle_cpu.get('worker', 0):.3f} cores), and {cost}. With a 24-hour step-2 "
        "delay those wake-ups are spread out; what would cost is many evicted incidents "
        "waking together (acknowledging a storm's incidents, timers set in the same minute), "
        "each paying its replay on the worker's CPU. Raising `max_cached_workflows` trades "
        "worker memory (its RSS above, for the cached ones) for those replays."
    )


def docs_section(
    outcome: Outcome, info: dict[str, str], command: str, args: argparse.Namespace
) -> str:
    result = outcome.summary()
    when = report_when()
    names = sorted(outcome.idle_cpu)
    rows = [
        ["CPU while creating (cores)", *(f"{outcome.create_cpu.get(n, 0):.2f}" for n in names)],
        ["CPU at rest (cores)", *(f"{outcome.idle_cpu.get(n, 0):.3f}" for n in names)],
        ["RSS at rest (MB)", *(f"{outcome.idle_rss_mb.get(n, 0):.0f}" for n in names)],
        ["peak RSS (MB)", *(f"{outcome.peak_rss_mb.get(n, 0):.0f}" for n in names)],
    ]
    failed = checks(outcome, args)
    return f"""{SECTION}

Generated by `bench/idle.py` on {when}; rerun it to refresh this section.

```
{command}
```

- Machine: {describe_machine(info)}.
- {outcome.incidents:,} incidents created through the API in {outcome.create_seconds:.0f} s
  ({result["create_rate"]:.1f}/s; paced at {args.rate:g}/s, at most {args.concurrency} in
  flight and {args.backlog:,} ahead of the incidents whose page reached someone (assigned
  on the read side), which held {outcome.held_back:,} triggers back; 202 p50
  {result["create_p50_ms"]:.0f} ms, p99 {result["create_p99_ms"]:.0f} ms).
  Every one paged step 1 (fake Slack) {outcome.settle_seconds:.0f} s after the last trigger
  at the latest; each workflow then sleeps on its {LONG_DELAY_MINUTES}-minute step-2 timer.
- At rest: nothing sent; {outcome.rest_seconds:.0f} s after the last step-1 page the worker and
  the Temporal server were under {REST_CORES:g} cores together (the deliveries left were done);
  {args.quiet_seconds:g} s later measured for {outcome.idle_seconds:.0f} s. PostgreSQL and the
  API are whole process trees.

{markdown_table(["", *names], rows, "l" + "r" * len(names))}

{reading(outcome)}

{"FAILED: " + "; ".join(failed) if failed else "Each trigger made one incident, which paged."}
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.idle", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--incidents", type=int, default=None, help="open incidents (20000)")
    parser.add_argument("--rate", type=float, default=None, help="triggers per second (40)")
    parser.add_argument("--concurrency", type=int, default=32, help="triggers in flight at most")
    parser.add_argument(
        "--backlog",
        type=int,
        default=STICKY_CACHE,
        help="triggers ahead of the read side's step-1 pages at most (the sticky cache, 1000)",
    )
    parser.add_argument("--idle-seconds", type=float, default=None, help="measured at rest (60)")
    parser.add_argument(
        "--quiet-seconds",
        type=float,
        default=None,
        help="then wait this long before measuring (10)",
    )
    parser.add_argument("--probe", type=int, default=None, help="queries per group (50)")
    parser.add_argument("--smoke", action="store_true", help="10 incidents, 2 s at rest")
    parser.add_argument("--write-docs", action="store_true", help=f"rewrite {SECTION!r}")
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where the CSV goes")
    args = parser.parse_args(argv)
    if args.smoke and args.write_docs:
        parser.error("--smoke numbers do not belong in the docs")
    args.incidents = args.incidents or (10 if args.smoke else 20_000)
    args.rate = args.rate or (20.0 if args.smoke else 40.0)
    args.idle_seconds = args.idle_seconds or (2.0 if args.smoke else 60.0)
    args.quiet_seconds = args.quiet_seconds if args.quiet_seconds is not None else (
        1.0 if args.smoke else 10.0
    )  # fmt: skip
    args.probe = min(args.probe or (3 if args.smoke else 50), args.incidents)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    interrupt_on_sigterm()
    began = time.monotonic()
    stamp = report_stamp()

    async def run() -> Outcome:
        with tempfile.TemporaryDirectory(prefix="tocsin-bench-idle-") as tmp:
            async with stack_with_slack(Path(tmp)) as (stack, slack):
                print(f"stack up in {time.monotonic() - began:.1f}s", flush=True)
                key, _ = await provision(stack.database_url, slack, LONG_DELAY_MINUTES)
                return await measure_with(stack, key, args)

    outcome = asyncio.run(run())
    result = outcome.summary()
    for name, value in result.items():
        print(f"{name:>28}: {value:.3f}" if isinstance(value, float) else f"{name:>28}: {value}")
    row: Mapping[str, Any] = {
        "timestamp": stamp, "scenario": "idle", "smoke": args.smoke, "rate": args.rate,
        "concurrency": args.concurrency, "idle_seconds": outcome.idle_seconds, **result,
        **{f"create_cpu_{k}": v for k, v in outcome.create_cpu.items()},
    }  # fmt: skip
    path = write_csv(args.results_dir / f"idle-{stamp}.csv", [row])
    print(f"wrote {path}")
    print(reading(outcome))
    if args.write_docs:
        command = "python -m bench.idle " + shlex.join(argv if argv is not None else sys.argv[1:])
        write_docs(docs_section(outcome, machine(), command.strip(), args), SECTION)
        print(f"rewrote {SECTION!r}")
    print(f"total {time.monotonic() - began:.1f}s")
    failed = checks(outcome, args)
    for failure in failed:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
