"""Load generators: a closed loop (as fast as the system answers) and an open loop (requests
at a fixed rate whether or not the system keeps up), both with a bound on requests in flight.

A call returns ``(accepted, label)``; labels are counted (``"trigger:triggered"``, ``"HTTP
500"``) and latencies are kept per kind, the label's part before the first ``:``. The open
loop measures latency from when a request was due, not from when it was sent, so a backlog in
the generator shows as latency instead of hiding (no coordinated omission).
"""

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.report import nearest_rank

Call = Callable[[int], Awaitable[tuple[bool, str]]]


@dataclass
class Run:
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)  # of accepted requests, seconds
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: int = 0

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def sent(self) -> int:
        return self.ok + self.errors

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def ms(self, q: float, kind: str | None = None) -> float:
        values = self.latencies if kind is None else self.by_kind.get(kind, [])
        return 1000 * nearest_rank(values, q)

    def summary(self) -> dict[str, Any]:
        """The CSV columns every measurement has."""
        return {
            "sent": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "seconds": self.elapsed,
            "per_second": self.rate,
            "p50_ms": self.ms(0.50),
            "p95_ms": self.ms(0.95),
            "p99_ms": self.ms(0.99),
        }

    def record(self, ok: bool, label: str, latency: float) -> None:
        self.outcomes[label] += 1
        if ok:
            self.latencies.append(latency)
            self.by_kind.setdefault(label.split(":", 1)[0], []).append(latency)
        else:
            self.errors += 1


async def _attempt(call: Call, n: int) -> tuple[bool, str]:
    try:
        return await call(n)
    except Exception as err:  # a refused connection or a timeout is a result, not a crash
        return False, type(err).__name__


async def closed_loop(
    call: Call, *, concurrency: int, seconds: float | None = None, count: int | None = None
) -> Run:
    """``concurrency`` senders, each sending its next request when the last is answered,
    until ``seconds`` have passed or ``count`` requests were sent."""
    loop = asyncio.get_running_loop()
    numbers = itertools.count()
    deadline = loop.time() + seconds if seconds is not None else float("inf")
    run = Run()

    async def sender() -> None:
        while loop.time() < deadline:
            n = next(numbers)
            if count is not None and n >= count:
                return
            started = time.perf_counter()
            ok, label = await _attempt(call, n)
            run.record(ok, label, time.perf_counter() - started)

    start = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    run.elapsed = time.perf_counter() - start
    return run


async def open_loop(call: Call, *, rate: float, seconds: float, max_in_flight: int) -> Run:
    """``rate`` requests per second for ``seconds``; request n is due at n / rate. At most
    ``max_in_flight`` are outstanding: beyond that, due requests wait (and it shows)."""
    run = Run()
    slots = asyncio.Semaphore(max_in_flight)
    tasks: set[asyncio.Task[None]] = set()

    async def one(n: int, due: float) -> None:
        try:
            ok, label = await _attempt(call, n)
            run.record(ok, label, time.perf_counter() - due)
        finally:
            slots.release()

    start = time.perf_counter()
    for n in range(max(1, round(rate * seconds))):
        due = start + n / rate
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        await slots.acquire()
        task = asyncio.create_task(one(n, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*list(tasks))
    run.elapsed = time.perf_counter() - start
    return run
