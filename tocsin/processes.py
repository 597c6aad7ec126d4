"""Running the ``api`` and ``worker`` commands until SIGINT/SIGTERM: a coroutine in this
process, or several copies of a command in child processes."""

import asyncio
import ctypes
import functools
import gc
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

T = TypeVar("T")

# How long children get to finish in-flight work after SIGTERM before they are killed.
STOP_GRACE_SECONDS = 20.0
# Allocations between young-generation collections in the API (Python's: 700).
API_GC_YOUNG_THRESHOLD = 50_000


def settle_garbage_collector(young_threshold: int | None = None) -> None:
    """Once a serving process has loaded what it keeps (modules, the app or the worker):
    freeze that out of the collector's view, and collect young garbage every
    ``young_threshold`` allocations (None: Python's default).

    Full collections walked everything loaded at start-up: 100-150 ms pauses in the API's
    200-incident list, 170-270 ms ones stalling every workflow task in flight on a worker
    (68-88 ms frozen). In the API, at the default threshold collections took a seventh of
    its CPU in a storm, walking the requests in flight, and its garbage is short-lived, so
    it collects rarely. The worker keeps the default: its cached workflows are long-lived,
    and one evicted from the cache is freed only by a full collection, which a rare young
    threshold made rarer still (with 20,000 open incidents each worker process grew past
    1.2 GB, docs/benchmarks.md).
    """
    gc.freeze()
    if young_threshold is not None:
        gc.set_threshold(young_threshold)


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)``; ``stop`` is set on SIGINT or SIGTERM so it can shut down cleanly."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


async def unless_stopped(work: Awaitable[T], stop: asyncio.Event) -> T | None:
    """``work``'s result, or None if ``stop`` is set first (``work`` is then cancelled)."""
    working = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({working, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if working.done():
        return working.result()
    working.cancel()
    return None


def run_copies(count: int, target: Callable[[], None]) -> int:
    """Run ``target`` (a module-level function) in ``count`` child processes until this
    process gets SIGINT/SIGTERM, which each child then gets too; if a child exits on its own,
    the others are stopped and its exit code is returned (a supervisor sees the failure)."""
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    # Set explicitly: a background job inherits SIGINT ignored.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    context = multiprocessing.get_context("spawn")
    child_main = functools.partial(_die_with_parent, os.getpid(), target)
    children = [context.Process(target=child_main) for _ in range(count)]
    for child in children:
        child.start()
    code = 0
    while not stopping:
        exited = [c for c in children if c.exitcode is not None]
        if exited:
            code = exited[0].exitcode or 1
            break
        time.sleep(0.2)
    for child in children:
        if child.exitcode is None:
            child.terminate()  # SIGTERM: the child's own handler stops it cleanly
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        child.join(max(0.1, deadline - time.monotonic()))
        if child.exitcode is None:
            child.kill()
            child.join()
    return code


# prctl(2): the signal a process gets when its parent dies.
_PR_SET_PDEATHSIG = 1


def exit_without_finalizing(code: int) -> NoReturn:
    """End this process at once, after flushing logs and output. Interpreter finalization
    is skipped: the threads of Temporal's Rust bridge can crash it ("Fatal Python error:
    PyGILState_Release ...", temporalio/sdk-python#300) after a clean shutdown, which
    aborted a worker on exit and left a non-JSON line in its log."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _die_with_parent(parent: int, target: Callable[[], None]) -> None:
    """Run ``target`` in a child that is killed when its parent is, however the parent
    goes (``kill -9`` of ``tocsin worker`` must not leave its workers running)."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    target()
    exit_without_finalizing(0)
