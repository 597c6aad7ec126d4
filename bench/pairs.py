"""Ceilings measured next to the scenario they judge, in pairs.

This machine's speed drifts by half or more within minutes (docs/benchmarks.md): a ceiling
measured a minute before a scenario can be from a faster or a slower machine than the
scenario's, and a ratio near its target then passes or fails by chance. So scenarios 1 and
2 also measure their ceiling right next to each of several runs, on their own stack (the
ceiling's processes idle while the scenario runs, and the reverse), and judge their target
on the median of the pairs' ratios: each pair shares the machine's speed of its minute.
"""

import asyncio
import shutil
import statistics
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from temporalio.client import Client

from bench import ceilings
from bench.scenario import ratio
from bench.stack import Monitor, Stack, cpu_snapshot, free_port, roots
from tocsin.devstack import wait_for_port
from tocsin.settings import Settings
from tocsin.temporal import connect
from web.commands import IncidentCommands

DRAIN_LIMIT = 60.0
# A ceiling is measured once the stack has settled (a fresh dev server runs its own system
# workflows for a while; a storm leaves writes behind): below this many cores, at most so long.
QUIET_CORES = 0.1
QUIET_LIMIT = 30.0


async def quiet(stack: Stack, cores: float = QUIET_CORES, limit: float = QUIET_LIMIT) -> None:
    """Wait until the stack's processes together take under ``cores`` over half a second
    (both sides of a pair start on a settled machine)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    before = _stack_seconds(stack)
    while loop.time() < deadline:
        await asyncio.sleep(0.5)
        now = _stack_seconds(stack)
        if now - before < cores * 0.5:
            return
        before = now


def _stack_seconds(stack: Stack) -> float:
    return sum(v for name, v in cpu_snapshot(stack).items() if name != "bench")


def median_ratio(pairs: Sequence[tuple[float, float]]) -> float:
    """The median of ``scenario / ceiling`` over the pairs (NaN if a ceiling is 0)."""
    ratios = [ratio(value, ceiling) for value, ceiling in pairs]
    return statistics.median(ratios) if ratios else float("nan")


@dataclass(frozen=True)
class Paired:
    """One run of a ceiling next to a scenario's run."""

    per_second: float
    generator: str
    # Cores the scenario's own processes (the stack, idle but for leftovers) took meanwhile:
    # what the ceiling had to share the machine with.
    stack_cpu: float


T = TypeVar("T")


async def side_by_side(
    ceiling_first: bool,
    ceiling: Callable[[], Awaitable[Paired]],
    scenario: Callable[[], Awaitable[T]],
) -> tuple[Paired, T]:
    """One pair: the ceiling and the scenario run one after the other, in the order asked
    (callers alternate it, so a steady drift of the machine's speed favours neither)."""
    if ceiling_first:
        measured = await ceiling()
        return measured, await scenario()
    row = await scenario()
    return await ceiling(), row


def _cores(row: Mapping[str, Any], names: Iterable[str]) -> float:
    return sum(float(row.get(f"cpu_{name}", 0.0)) for name in names)


class PairedHello:
    """Ceiling (b) on demand: the hello app, driven as ``bench.ceilings`` drives it."""

    def __init__(self, stack: Stack, url: str, pid: int) -> None:
        self._stack = stack
        self._url = url
        self._pids = dict(stack.pids) | {"hello": pid}

    async def measure(self, seconds: float, concurrency: int) -> Paired:
        """Requests per second, with wrk when installed (else the bench's generator)."""
        await quiet(self._stack)
        if shutil.which("wrk"):
            row = await asyncio.to_thread(
                ceilings.wrk, self._url, seconds, concurrency, self._stack.workdir, self._pids
            )
            return Paired(float(row["per_second"]), "wrk", _cores(row, self._stack.pids))
        with Monitor(roots(extra=self._pids)) as monitor:
            run = await ceilings.python_http(self._url, seconds, concurrency)
        stack_cpu = sum(monitor.cpu.get(name, 0.0) for name in self._stack.pids)
        return Paired(run.rate, "bench generator", stack_cpu)


@contextmanager
def paired_hello(stack: Stack) -> Iterator[PairedHello]:
    port = free_port()
    args = [sys.executable, "-m", "bench.hello", str(port), str(Settings().api_workers)]
    with ceilings.process(args, stack.workdir / "hello.log") as hello:
        wait_for_port("127.0.0.1", port, 30, hello)
        yield PairedHello(stack, f"http://127.0.0.1:{port}/api/events", hello.pid)


class PairedBareWorker:
    """Ceiling (a) as run on demand: the API's SignalWithStart to a bare worker, on the
    scenario's own Temporal server (its own task queue; Tocsin's worker idles meanwhile)."""

    def __init__(self, stack: Stack, pid: int) -> None:
        self._stack = stack
        self._pids = dict(stack.pids) | {"bare-worker": pid}
        self._client: Client | None = None  # connected at the first measurement

    async def measure(self, seconds: float, concurrency: int) -> Paired:
        """Bare workflows run per second (each counted when the bare worker finished it);
        the stack's cores exclude the Temporal server, which is the ceiling's own."""
        if self._client is None:
            self._client = await connect(Settings(temporal_address=self._stack.temporal_address))
        client = self._client
        bare = IncidentCommands(client, ceilings.BARE_QUEUE)
        service = f"svc_{uuid.uuid4().hex[:8]}"
        running = f"TaskQueue = '{ceilings.BARE_QUEUE}' AND ExecutionStatus = 'Running'"
        # Warm-up: the bare worker is polling and has finished a few workflows.
        call = ceilings.sws_call(bare, f"{service}w", lambda n: f"w-{n}")
        await asyncio.gather(*(call(n) for n in range(8)))
        await ceilings.drained(client, running, DRAIN_LIMIT)
        await quiet(self._stack)
        _, ran = await ceilings.bare_worker_ceiling(
            client, bare, service, self._pids, concurrency, seconds
        )
        others = [name for name in self._stack.pids if name != "temporal"]
        return Paired(float(ran["per_second"]), "bare client", _cores(ran, others))


@contextmanager
def paired_bare_worker(stack: Stack) -> Iterator[PairedBareWorker]:
    args = [sys.executable, "-m", "bench.bare_worker", stack.temporal_address, ceilings.BARE_QUEUE]
    with ceilings.process(args, stack.workdir / "bare-worker.log") as worker:
        yield PairedBareWorker(stack, worker.pid)
