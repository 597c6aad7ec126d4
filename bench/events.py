"""Events API throughput: how close ``POST /api/events`` gets to what Temporal itself takes.

Starts a private stack (PostgreSQL, the Temporal dev server, the worker and the API as
separate processes, as ``tocsin up`` runs them) on free ports in a temp dir, then measures:

- ``temporal-distinct``: the ceiling. Raw SignalWithStart calls from a bare client, built by
  ``web.commands.IncidentCommands`` itself so the request is exactly the API's (USE_EXISTING,
  search attributes, payloads), one new workflow id per call, on a task queue with *no*
  worker: it measures the server's accept path and nothing else.
- ``temporal-hot``: the same on one workflow id, for comparison with the hot-key HTTP case.
- ``http-distinct``: triggers through the API with a new dedup key per request.
- ``http-hot``: triggers through the API on one dedup key (an alert storm); afterwards exactly
  one open incident must exist and its alertCount must match what was accepted.

Load is closed-loop: ``--concurrency`` tasks each send their next request as soon as the
previous one is answered, for ``--seconds``. CPU use of every process is sampled from /proc
so the report says where the time went. Run: ``python -m bench.events [--smoke]``.
"""

import argparse
import asyncio
import csv
import itertools
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.report import DOCS, RESULTS, nearest_rank, write_docs
from bench.stack import Stack, cpu_snapshot, running_stack
from models.db import create_engine, session_scope
from models.provisioning import create_api_key, create_integration, create_service
from tocsin.devstack import temporal_cli
from tocsin.settings import Settings
from tocsin.temporal import connect
from web.commands import IncidentCommands
from workflows.messages import AlertIn

# The ceiling's workflows go to a queue nobody polls, so no worker competes for CPU.
RAW_TASK_QUEUE = "bench-raw-no-worker"
SETTLE_TIMEOUT = 30.0
SECTION = "## Events"
COMPONENTS = ("bench", "api", "worker", "temporal", "postgres")
PAYLOAD = {"summary": "bench alert", "source": "bench", "severity": "critical"}


# --- load -----------------------------------------------------------------------------------

# One request: (succeeded, label). Labels are counted, e.g. "triggered" or "HTTP 500".
Call = Callable[[int], Awaitable[tuple[bool, str]]]


@dataclass
class Result:
    scenario: str
    path: str
    concurrency: int
    elapsed: float
    latencies: list[float]
    outcomes: Counter[str]
    errors: int
    cpu: dict[str, float]  # cores: CPU seconds per wall second
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    ratio: float | None = None  # to the ceiling (temporal-distinct)
    ratio_same: float | None = None  # to the raw run with the same key shape

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def sent(self) -> int:
        return self.ok + self.errors

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def percentile_ms(self, q: float) -> float:
        return 1000 * nearest_rank(self.latencies, q)


async def drive(
    scenario: str, path: str, call: Call, seconds: float, concurrency: int, stack: Stack
) -> Result:
    """Closed loop: a fixed pool of ``concurrency`` tasks (the same bound a semaphore gives,
    without a task per request), each sending its next request when the last is answered."""
    loop = asyncio.get_running_loop()
    numbers = itertools.count()
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    errors = 0
    deadline = loop.time() + seconds

    async def sender() -> None:
        nonlocal errors
        while loop.time() < deadline:
            started = time.perf_counter()
            try:
                ok, label = await call(next(numbers))
            except Exception as err:
                ok, label = False, type(err).__name__
            outcomes[label] += 1
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    before = cpu_snapshot(stack)
    start = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    after = cpu_snapshot(stack)
    cpu = {k: (after[k] - before.get(k, 0.0)) / elapsed for k in after}
    result = Result(scenario, path, concurrency, elapsed, latencies, outcomes, errors, cpu)
    if errors:
        result.failures.append(f"{errors} errors")
    return result


def alert() -> AlertIn:
    """The alert the API would build from PAYLOAD."""
    return AlertIn(
        **PAYLOAD, payload=dict(PAYLOAD), received_at=datetime.now(UTC), actor="bench:raw"
    )


def raw_call(commands: IncidentCommands, service_id: str, key: Callable[[int], str]) -> Call:
    async def call(n: int) -> tuple[bool, str]:
        outcome = await commands.trigger(service_id, key(n), alert())
        return True, "started" if outcome.started else "existing"

    return call


def http_call(http: httpx.AsyncClient, integration_key: str, key: Callable[[int], str]) -> Call:
    headers = {"Authorization": f"Token token={integration_key}"}

    async def call(n: int) -> tuple[bool, str]:
        body = {"event_action": "trigger", "dedup_key": key(n), "payload": PAYLOAD}
        response = await http.post("/api/events", json=body, headers=headers)
        if response.status_code != 202:
            return False, f"HTTP {response.status_code}"
        return True, str(response.json()["result"]["action"])

    return call


@dataclass
class Tenant:
    service_id: str
    integration_key: str


async def incidents(
    http: httpx.AsyncClient, read_key: str, service_id: str, limit: int = 200
) -> tuple[int, list[dict[str, Any]]]:
    response = await http.get(
        "/api/incidents",
        params={"serviceId": service_id, "limit": limit},
        headers={"Authorization": f"Bearer {read_key}"},
    )
    response.raise_for_status()
    body = response.json()
    return int(body["total"]), list(body["incidents"])


async def settle_distinct(
    http: httpx.AsyncClient, read_key: str, tenant: Tenant, result: Result
) -> None:
    """Every accepted trigger made its own incident on the read side. Waiting for that also
    keeps the worker's backlog out of the next scenario."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        total, _ = await incidents(http, read_key, tenant.service_id, limit=1)
        if total >= result.ok or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.25)
    result.notes.append(f"{total} incidents for {result.ok} accepted")
    if not result.ok <= total <= result.sent:
        result.failures.append(f"{total} incidents, expected {result.ok}")
    if result.outcomes["triggered"] != result.ok:
        result.failures.append(f"{result.outcomes['triggered']} 'triggered' of {result.ok}")


async def check_hot(
    http: httpx.AsyncClient, read_key: str, tenant: Tenant, dedup_key: str, result: Result
) -> None:
    """Exactly one open incident for the hot key; its alertCount catches up with what was
    accepted (the projection may lag, so poll)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    started = time.monotonic()
    while True:
        total, found = await incidents(http, read_key, tenant.service_id)
        count = int(found[0]["alertCount"]) if total == 1 else -1
        if count >= result.ok or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.25)
    lag = time.monotonic() - started
    if total != 1 or found[0]["status"] != "OPEN" or found[0]["dedupKey"] != dedup_key:
        states = [(i["dedupKey"], i["status"]) for i in found]
        result.failures.append(f"expected one OPEN incident for the hot key, got {states}")
        return
    result.notes.append(
        f"1 open incident, alertCount {count} of {result.sent} sent "
        f"({result.ok} accepted; read side caught up {lag:.1f}s after the run)"
    )
    if not result.ok <= count <= result.sent:
        result.failures.append(f"alertCount {count}, expected {result.ok}")
    if result.outcomes["triggered"] != 1:
        result.failures.append(f"{result.outcomes['triggered']} 'triggered', expected 1")


async def provision(stack: Stack) -> tuple[dict[str, Tenant], str, str]:
    """One service per scenario, so each scenario's incidents can be counted on their own."""
    engine: AsyncEngine = create_engine(Settings(database_url=stack.database_url))
    tenants: dict[str, Tenant] = {}
    try:
        async with session_scope(engine) as session:
            for name in ("warm-up", "distinct", "hot"):
                service = await create_service(session, f"bench {name}")
                _, key = await create_integration(session, service.id, "bench")
                tenants[name] = Tenant(service.id, key)
            ids = [t.service_id for t in tenants.values()]
            _, read_key = await create_api_key(session, "bench read", ["incidents:read"], ids)
            conn = await session.connection()
            version = (await conn.execute(text("SHOW server_version"))).scalar_one()
    finally:
        await engine.dispose()
    return tenants, read_key, str(version)


async def warm_up(
    http: httpx.AsyncClient, commands: IncidentCommands, read_key: str, tenant: Tenant
) -> None:
    """Open connections and pools and prove the worker is projecting before measuring."""
    count = 16
    call = http_call(http, tenant.integration_key, lambda n: f"warm-{n}")
    answers = await asyncio.gather(*(call(n) for n in range(count)))
    if not all(ok for ok, _ in answers):
        raise RuntimeError(f"warm-up requests failed: {answers}")
    await asyncio.gather(*(commands.trigger("svc_warm", f"warm-{n}", alert()) for n in range(8)))
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while (await incidents(http, read_key, tenant.service_id, limit=1))[0] < count:
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not project the warm-up incidents")
        await asyncio.sleep(0.1)


async def measure(stack: Stack, seconds: float, concurrency: int) -> tuple[list[Result], str]:
    tenants, read_key, pg_version = await provision(stack)
    client = await connect(Settings(temporal_address=stack.temporal_address))
    commands = IncidentCommands(client, RAW_TASK_QUEUE)
    run = uuid.uuid4().hex[:8]
    limits = httpx.Limits(
        max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4
    )
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30, limits=limits) as http:
        await warm_up(http, commands, read_key, tenants["warm-up"])
        results = [
            await drive(
                "temporal-distinct", "bare client → Temporal (no worker)",
                raw_call(commands, f"svc_raw_{run}", lambda n: f"d-{n}"),
                seconds, concurrency, stack,
            ),
            await drive(
                "temporal-hot", "bare client → Temporal (no worker)",
                raw_call(commands, f"svc_raw_{run}", lambda n: "hot"),
                seconds, concurrency, stack,
            ),
        ]  # fmt: skip
        distinct, hot = tenants["distinct"], tenants["hot"]
        result = await drive(
            "http-distinct", "HTTP → API → Temporal → worker",
            http_call(http, distinct.integration_key, lambda n: f"d-{run}-{n}"),
            seconds, concurrency, stack,
        )  # fmt: skip
        await settle_distinct(http, read_key, distinct, result)
        results.append(result)
        hot_key = f"hot-{run}"
        result = await drive(
            "http-hot", "HTTP → API → Temporal → worker",
            http_call(http, hot.integration_key, lambda n: hot_key),
            seconds, concurrency, stack,
        )  # fmt: skip
        await check_hot(http, read_key, hot, hot_key, result)
        results.append(result)
    rates = {r.scenario: r.rate for r in results}
    for r in results[1:]:
        r.ratio = r.rate / rates["temporal-distinct"] if rates["temporal-distinct"] else None
        raw = rates["temporal-" + r.scenario.split("-", 1)[1]]
        r.ratio_same = r.rate / raw if r.path.startswith("HTTP") and raw else None
    if results[0].outcomes["started"] != results[0].ok:
        results[0].failures.append("a distinct workflow id was not started")
    return results, pg_version


# --- reporting ------------------------------------------------------------------------------


def results_table(results: list[Result]) -> str:
    rows = [
        "| Scenario | Path | Triggers/s | vs ceiling | vs raw, same keys | p50 ms | p99 ms "
        "| Sent | Errors | Checks |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for r in results:
        ratio = "1 (ceiling)" if r.scenario == "temporal-distinct" else f"{r.ratio or 0:.2f}"
        same = "" if r.ratio_same is None else f"{r.ratio_same:.2f}"
        checks = "; ".join([f"FAILED: {f}" for f in r.failures] + r.notes)
        rows.append(
            f"| {r.scenario} | {r.path} | {r.rate:.0f} | {ratio} | {same} "
            f"| {r.percentile_ms(0.5):.1f} | {r.percentile_ms(0.99):.1f} | {r.sent} | {r.errors} "
            f"| {checks or 'ok'} |"
        )
    return "\n".join(rows)


def cpu_table(results: list[Result], cores: int) -> str:
    rows = [
        "| Scenario | " + " | ".join(COMPONENTS) + " | total | busiest |",
        "|---|" + "--:|" * (len(COMPONENTS) + 1) + "---|",
    ]
    for r in results:
        cells = [f"{r.cpu[c]:.2f}" if c in r.cpu else "n/a" for c in COMPONENTS]
        busiest = max(r.cpu, key=lambda c: r.cpu[c])
        total = sum(r.cpu.values())
        rows.append(
            f"| {r.scenario} | {' | '.join(cells)} | {total:.2f} of {cores} "
            f"| {busiest} ({r.cpu[busiest]:.2f}) |"
        )
    return "\n".join(rows)


def machine(pg_version: str, database: str) -> dict[str, str]:
    cores = len(os.sched_getaffinity(0))
    meminfo = Path("/proc/meminfo").read_text().split("\n")
    ram_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    model = "unknown CPU"
    with suppress(OSError, StopIteration):
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
        model = next(line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line)
    tuning = {k: v for k, v in os.environ.items() if k.startswith("TOCSIN_")}
    temporal = subprocess.run(
        [temporal_cli(), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu": f"{cores} cores (nproc), {model}",
        "ram": f"{ram_kb / 1024 / 1024:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "temporal": temporal.removeprefix("temporal version ") + ", dev server, SQLite file",
        "postgres": f"PostgreSQL {pg_version}, {database}",
        "tuning": ", ".join(f"`{k}={v}`" for k, v in sorted(tuning.items())) or "defaults",
    }


def docs_section(
    results: list[Result], info: dict[str, str], command: str, when: str, seconds: float
) -> str:
    cores = len(os.sched_getaffinity(0))
    return f"""{SECTION}

Generated by `bench/events.py` on {when}; rerun it to refresh this section.

```
{command}
```

- Machine: {info["cpu"]}, {info["ram"]} RAM, {info["os"]}; Python {info["python"]}.
- Temporal CLI {info["temporal"]}; {info["postgres"]}.
- Settings from the environment: {info["tuning"]}.
- Everything runs on this one machine: the load generator (an in-process
  `httpx.AsyncClient`, or a bare Temporal client), the API (`tocsin api`: one Hypercorn
  process), the worker (`tocsin worker`), the Temporal dev server and PostgreSQL.
- Closed loop: {results[0].concurrency} requests in flight for {seconds:g} s per scenario
  (plus the answers still outstanding at the end). Triggers/s counts 202s (or successful
  calls) per second of wall time; latency percentiles are over those.
- Ceiling (`temporal-distinct`): SignalWithStart requests built by `IncidentCommands.trigger`
  (so identical to the API's: USE_EXISTING, search attributes, payloads), one new workflow id
  each, on a task queue with no worker. "vs ceiling" is each rate divided by that one.
- `temporal-hot` is the same request on one workflow id. `http-hot` sends every trigger with
  one dedup key; the check then requires exactly one OPEN incident whose alertCount equals
  the number of accepted triggers. `http-distinct` requires one incident per accepted
  trigger.
- A trigger's 202 waits (up to `TOCSIN_READ_WAIT_SECONDS`, 2 s) for the projection to write
  the incident row, so the HTTP latencies include the worker and the read side. The rate
  limit is raised out of the way (`TOCSIN_RATE_LIMIT_REQUESTS=100000000`).

{results_table(results)}

CPU per process during each scenario, in cores (CPU seconds per second of wall time;
the machine has {cores}); postgres is the postmaster plus its backends:

{cpu_table(results, cores)}

{observations(results, cores)}
"""


def observations(results: list[Result], cores: int) -> str:
    """Statements that follow from this run's numbers, so they stay true on a rerun."""
    by = {r.scenario: r for r in results}
    lines = [
        "Observations from this run:",
        "",
        "- The load is a closed loop, so each rate is about concurrency ÷ mean latency: a "
        "scenario is slow either because a resource is saturated or because each request "
        "waits on something.",
    ]
    lines.append(
        "- These are dev-server numbers (one SQLite file, one history shard, every process on "
        "the same cores); they bound what `tocsin up` on this machine does, not what Tocsin "
        "does against a production Temporal cluster."
    )
    ceiling, raw_hot = by["temporal-distinct"], by["temporal-hot"]
    busy = sum(ceiling.cpu.values())
    if busy < 0.9 * cores:
        lines.append(
            f"- The ceiling run kept {busy:.2f} of {cores} cores busy (the dev server "
            f"{ceiling.cpu['temporal']:.2f}): Temporal's accept path is not CPU-bound here, it "
            f"queues (p50 {ceiling.percentile_ms(0.5):.0f} ms with {ceiling.concurrency} "
            "requests in flight)."
        )
    if raw_hot.rate > ceiling.rate:
        lines.append(
            f"- Signals to one existing workflow ({raw_hot.rate:.0f}/s) are cheaper than "
            f"starting workflows ({ceiling.rate:.0f}/s), so a hot key can beat the distinct-key "
            "ceiling; compare it with `temporal-hot` (the 'vs raw, same keys' column)."
        )
    distinct = by["http-distinct"]
    if distinct.percentile_ms(0.5) >= 2000:
        lines.append(
            f"- Median `http-distinct` latency ({distinct.percentile_ms(0.5):.0f} ms) is above "
            "the 2 s read wait: most 202s went out only after the API gave up waiting for the "
            "projection of the new incident, so that wait, not the SignalWithStart, set the "
            "rate. The API polls the read side all through the wait (every 5-100 ms), which "
            "is why a new incident costs it more CPU than a deduplicated alert (below)."
        )
    for r in results:
        if r.path.startswith("HTTP"):
            api_ms = 1000 * r.cpu["api"] / max(r.rate, 1e-9)
            lines.append(
                f"- `{r.scenario}`: {api_ms:.1f} ms of API CPU per accepted trigger; "
                f"{sum(r.cpu.values()):.2f} of {cores} cores busy in total."
            )
    return "\n".join(textwrap.fill(line, 92, subsequent_indent="  ") for line in lines)


def write_csv(results: list[Result], directory: Path, stamp: str, args: argparse.Namespace) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"events-{stamp}.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "timestamp", "scenario", "path", "smoke", "concurrency", "seconds", "sent",
                "ok", "errors", "per_second", "ratio_to_ceiling", "ratio_to_raw_same_keys",
                "p50_ms", "p99_ms",
                *(f"cpu_{c}" for c in COMPONENTS), "outcomes", "checks",
            ]
        )  # fmt: skip
        for r in results:
            writer.writerow(
                [
                    stamp, r.scenario, r.path, args.smoke, r.concurrency, f"{r.elapsed:.2f}",
                    r.sent, r.ok, r.errors, f"{r.rate:.1f}",
                    "" if r.ratio is None else f"{r.ratio:.3f}",
                    "" if r.ratio_same is None else f"{r.ratio_same:.3f}",
                    f"{r.percentile_ms(0.5):.2f}", f"{r.percentile_ms(0.99):.2f}",
                    *(f"{r.cpu[c]:.3f}" if c in r.cpu else "" for c in COMPONENTS),
                    " ".join(f"{k}={v}" for k, v in sorted(r.outcomes.items())),
                    "; ".join(["FAILED: " + f for f in r.failures] + r.notes),
                ]
            )  # fmt: skip
    return path


# --- entry point ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.events", description=__doc__)
    parser.add_argument("--seconds", type=float, default=None, help="per scenario (15)")
    parser.add_argument("--concurrency", type=int, default=None, help="in flight (32)")
    parser.add_argument(
        "--smoke", action="store_true", help="~1 s per scenario, concurrency 4: checks the harness"
    )
    parser.add_argument("--write-docs", action="store_true", help=f"rewrite {SECTION!r} in docs")
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where the CSV goes")
    parser.add_argument("--logs", type=Path, help="copy the stack's logs here at the end")
    args = parser.parse_args(argv)
    if args.smoke and args.write_docs:
        parser.error("--smoke numbers do not belong in the docs")
    args.seconds = args.seconds or (1.0 if args.smoke else 15.0)
    args.concurrency = args.concurrency or (4 if args.smoke else 32)
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _tail(path: Path, lines: int = 15) -> str:
    with suppress(OSError):
        return "".join(path.read_text(errors="replace").splitlines(keepends=True)[-lines:])
    return ""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the stack is still stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    began = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-") as tmp:
        workdir = Path(tmp)
        try:
            with running_stack(workdir) as stack:
                print(f"stack up in {time.monotonic() - began:.1f}s", flush=True)
                results, pg_version = asyncio.run(measure(stack, args.seconds, args.concurrency))
                info = machine(pg_version, stack.database)
        except BaseException:
            for log in sorted(workdir.glob("*.log")):
                if tail := _tail(log):
                    print(f"--- last lines of {log.name} ---\n{tail}", file=sys.stderr)
            raise
        finally:
            if args.logs:
                args.logs.mkdir(parents=True, exist_ok=True)
                for log in workdir.glob("*.log"):
                    shutil.copy(log, args.logs / log.name)
    cores = len(os.sched_getaffinity(0))
    print(results_table(results))
    print()
    print(cpu_table(results, cores))
    path = write_csv(results, args.results_dir, stamp, args)
    print(f"\nwrote {path}")
    if args.write_docs:
        command = "python -m bench.events " + shlex.join(argv if argv is not None else sys.argv[1:])
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        write_docs(docs_section(results, info, command.strip(), when, args.seconds), SECTION)
        print(f"rewrote {SECTION!r} in {DOCS}")
    print(f"total {time.monotonic() - began:.1f}s")
    failed = [f"{r.scenario}: {f}" for r in results for f in r.failures]
    for failure in failed:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
