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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bench import ceilings
from bench.stack import Stack, free_port
from tocsin.devstack import wait_for_port
from tocsin.settings import Settings
from tocsin.temporal import connect
from web.commands import IncidentCommands

DRAIN_LIMIT = 60.0


def median_ratio(pairs: Sequence[tuple[float, float]]) -> float:
    """The median of ``scenario / ceiling`` over the pairs (NaN if a ceiling is 0)."""
    ratios = [value / ceiling if ceiling else float("nan") for value, ceiling in pairs]
    return statistics.median(ratios) if ratios else float("nan")


class PairedHello:
    """Ceiling (b) on demand: the hello app, driven as ``bench.ceilings`` drives it."""

    def __init__(self, url: str, workdir: Path, pid: int) -> None:
        self._url = url
        self._workdir = workdir
        self._pids = {"hello": pid}

    async def measure(self, seconds: float, concurrency: int) -> tuple[float, str]:
        """Requests per second and the generator that measured them (wrk when installed)."""
        if shutil.which("wrk"):
            row = await asyncio.to_thread(
                ceilings.wrk, self._url, seconds, concurrency, self._workdir, self._pids
            )
            return float(row["per_second"]), "wrk"
        run = await ceilings.python_http(self._url, seconds, concurrency)
        return run.rate, "bench generator"


@contextmanager
def paired_hello(stack: Stack) -> Iterator[PairedHello]:
    port = free_port()
    args = [sys.executable, "-m", "bench.hello", str(port), str(Settings().api_workers)]
    with ceilings.process(args, stack.workdir / "hello.log") as hello:
        wait_for_port("127.0.0.1", port, 30, hello)
        yield PairedHello(f"http://127.0.0.1:{port}/api/events", stack.workdir, hello.pid)


class PairedBareWorker:
    """Ceiling (a) as run on demand: the API's SignalWithStart to a bare worker, on the
    scenario's own Temporal server (its own task queue; Tocsin's worker idles meanwhile)."""

    def __init__(self, stack: Stack, pid: int) -> None:
        self._stack = stack
        self._pids = {"temporal": stack.pids["temporal"], "bare-worker": pid}

    async def measure(self, seconds: float, concurrency: int) -> float:
        """Bare workflows run per second (each counted when the bare worker finished it)."""
        client = await connect(Settings(temporal_address=self._stack.temporal_address))
        bare = IncidentCommands(client, ceilings.BARE_QUEUE)
        service = f"svc_{uuid.uuid4().hex[:8]}"
        running = f"TaskQueue = '{ceilings.BARE_QUEUE}' AND ExecutionStatus = 'Running'"
        # Warm-up: the bare worker is polling and has finished a few workflows.
        call = ceilings.sws_call(bare, f"{service}w", lambda n: f"w-{n}")
        await asyncio.gather(*(call(n) for n in range(8)))
        await ceilings.drained(client, running, DRAIN_LIMIT)
        _, ran = await ceilings.bare_worker_ceiling(
            client, bare, service, self._pids, concurrency, seconds
        )
        return float(ran["per_second"])


@contextmanager
def paired_bare_worker(stack: Stack) -> Iterator[PairedBareWorker]:
    args = [sys.executable, "-m", "bench.bare_worker", stack.temporal_address, ceilings.BARE_QUEUE]
    with ceilings.process(args, stack.workdir / "bare-worker.log") as worker:
        yield PairedBareWorker(stack, worker.pid)
