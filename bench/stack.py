"""The stack a benchmark measures, started the way ``tocsin up`` starts it, and what each of
its processes costs (CPU time and peak RSS from /proc, Linux only).

``running_stack`` starts PostgreSQL (embedded pgserver, or a fresh database on
``DATABASE_URL``'s server), the Temporal dev server, the worker and the Hypercorn API as
separate processes on free ports, and stops all of them on the way out, whatever happens.
A component is its process and all its descendants (PostgreSQL backends, Hypercorn worker
processes), so the numbers stay right when a knob adds processes.
"""

import asyncio
import itertools
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from models.migrate import upgrade
from tocsin.devstack import start_temporal_dev_server, unbound_port, wait_for_port
from tocsin.settings import to_asyncpg_url

ROOT = Path(__file__).resolve().parent.parent
TASK_QUEUE = "bench"
STARTUP_TIMEOUT = 60.0


@dataclass
class Stack:
    database_url: str
    temporal_address: str
    api_url: str
    # Root pid of each component: temporal, worker, api, and postgres when embedded.
    pids: dict[str, int]
    postmaster_pid: int | None  # None when PostgreSQL is external
    database: str  # how PostgreSQL was provided, for the report
    workdir: Path = field(default_factory=Path)
    env: dict[str, str] = field(default_factory=dict)  # what the API and worker were given


# Listening ports come from below Linux's ephemeral range, as the tests' do (see
# ``unbound_port``): a run saw the Temporal dev server exit at start-up right after the
# storm's 256 connections.
PORTS = range(12000, 20000)
_picks = itertools.count(random.randrange(len(PORTS)))
TEMPORAL_START_ATTEMPTS = 3


def free_port() -> int:
    """A port nothing listens on, from ``PORTS``; none is handed out twice until they wrap."""
    return unbound_port(PORTS, _picks)


def start_temporal(workdir: Path) -> tuple[int, "subprocess.Popen[bytes]"]:
    """The dev server on a free port (its port and process), tried again on another port
    if it exits during start-up (its log keeps every attempt)."""
    for attempt in range(1, TEMPORAL_START_ATTEMPTS + 1):
        port = free_port()
        try:
            proc = start_temporal_dev_server(
                port=port,
                ui_port=None,
                db_file=workdir / f"temporal-{attempt}.db",
                log_file=workdir / "temporal.log",
            )
        except RuntimeError:
            if attempt == TEMPORAL_START_ATTEMPTS:
                raise
            continue
        return port, proc
    raise AssertionError("unreachable")


@contextmanager
def temporal_server(workdir: Path) -> Iterator[tuple[str, int]]:
    """Only the Temporal dev server (address, pid): what the ceilings need."""
    port, proc = start_temporal(workdir)
    try:
        yield f"127.0.0.1:{port}", proc.pid
    finally:
        _stop(proc)


@contextmanager
def running_stack(workdir: Path, env: Mapping[str, str] | None = None) -> Iterator[Stack]:
    """The whole stack on free ports. ``env`` goes to the API and the worker on top of this
    process's environment (TOCSIN_* knobs, Slack pointed at a fake); callbacks run in reverse
    order even if one of them fails."""
    with ExitStack() as cleanup:
        # The dev server takes seconds to start: let it do so while PostgreSQL initdb runs.
        pool = cleanup.enter_context(ThreadPoolExecutor(max_workers=1))
        temporal: Future[tuple[int, subprocess.Popen[bytes]]] = pool.submit(start_temporal, workdir)
        cleanup.callback(_stop_started, temporal)

        database_url, postmaster_pid, database = _database(workdir, cleanup)
        upgrade(database_url)
        temporal_port, temporal_proc = temporal.result()

        api_port = free_port()
        extra = {
            "DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
            "TOCSIN_PORT": str(api_port),
            "TOCSIN_WORKER_METRICS_PORT": str(free_port()),
            "TOCSIN_TASK_QUEUE": TASK_QUEUE,
            "TOCSIN_RATE_LIMIT_REQUESTS": "100000000",
        } | dict(env or {})
        # Other TOCSIN_* variables pass through: they are the knobs worth benchmarking.
        child_env = dict(os.environ) | extra
        procs: dict[str, subprocess.Popen[bytes]] = {}
        for name in ("worker", "api"):
            with (workdir / f"{name}.log").open("ab") as log:
                procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "tocsin.cli", name],
                    env=child_env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            cleanup.callback(_stop, procs[name])
        api_url = f"http://127.0.0.1:{api_port}"
        wait_for_port("127.0.0.1", api_port, STARTUP_TIMEOUT, procs["api"])
        _wait_ready(api_url, procs)
        pids = {"temporal": temporal_proc.pid} | {k: p.pid for k, p in procs.items()}
        if postmaster_pid is not None:
            pids["postgres"] = postmaster_pid
        yield Stack(
            database_url=database_url,
            temporal_address=f"127.0.0.1:{temporal_port}",
            api_url=api_url,
            pids=pids,
            postmaster_pid=postmaster_pid,
            database=database,
            workdir=workdir,
            env={k: v for k, v in extra.items() if k.startswith("TOCSIN_")},
        )


def _database(workdir: Path, cleanup: ExitStack) -> tuple[str, int | None, str]:
    """A fresh database: on DATABASE_URL's server if set (dropped afterwards), else embedded."""
    base = os.environ.get("DATABASE_URL")
    if base:
        name = f"tocsin_bench_{uuid.uuid4().hex[:12]}"
        asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
        cleanup.callback(lambda: asyncio.run(_admin(base, f'DROP DATABASE "{name}" WITH (FORCE)')))
        return base.rsplit("/", 1)[0] + "/" + name, None, "external (DATABASE_URL)"
    import pgserver  # only needed for the embedded database

    pg = pgserver.get_server(workdir / "pg", cleanup_mode="stop")
    cleanup.callback(pg.cleanup)
    return pg.get_uri(), pg.get_pid(), "embedded (pgserver)"


async def _admin(url: str, sql: str) -> None:
    engine = create_async_engine(to_asyncpg_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def _wait_ready(api_url: str, procs: Mapping[str, subprocess.Popen[bytes]]) -> None:
    """/readyz means the API reached PostgreSQL and Temporal; the worker must still be alive."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} during start-up")
        with suppress(httpx.TransportError):
            if httpx.get(f"{api_url}/readyz", timeout=5).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{api_url}/readyz not ready after {STARTUP_TIMEOUT:.0f}s")


def _stop(proc: "subprocess.Popen[bytes]") -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _stop_started(future: "Future[tuple[int, subprocess.Popen[bytes]]]") -> None:
    # If start-up failed there is no handle to stop (see the report on devstack).
    with suppress(Exception):
        _stop(future.result()[1])


# --- what each process costs ----------------------------------------------------------------


@dataclass(frozen=True)
class ProcStat:
    ppid: int
    cpu: float  # own user + system seconds
    children_cpu: float  # reaped children's seconds


def proc_stat(pid: int) -> ProcStat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    return ProcStat(
        ppid=int(fields[1]),
        cpu=(int(fields[11]) + int(fields[12])) / tick,
        children_cpu=(int(fields[13]) + int(fields[14])) / tick,
    )


def peak_rss_kb(pid: int) -> int:
    """VmHWM: the most resident memory the process ever had (0 if it is gone)."""
    with suppress(OSError, StopIteration, ValueError):
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        return int(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
    return 0


def components(roots: Mapping[str, int]) -> dict[str, dict[int, ProcStat]]:
    """Each component's live processes: its root and every descendant. ``bench`` (this
    process) is its own process only, since the stack's processes are its children."""
    stats: dict[int, ProcStat] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := proc_stat(int(entry.name))) is not None:
            stats[int(entry.name)] = stat
    children: dict[int, list[int]] = {}
    for pid, stat in stats.items():
        children.setdefault(stat.ppid, []).append(pid)
    out: dict[str, dict[int, ProcStat]] = {}
    for name, root in list(roots.items()):
        found: dict[int, ProcStat] = {}
        todo = [root] if root in stats else []
        while todo:
            pid = todo.pop()
            found[pid] = stats[pid]
            if name != "bench":
                todo.extend(children.get(pid, []))
        out[name] = found
    return out


def roots(stack: Stack | None = None, extra: Mapping[str, int] | None = None) -> dict[str, int]:
    """The components to account for: this process, the stack's and any others."""
    return {"bench": os.getpid()} | (stack.pids if stack else {}) | dict(extra or {})


def cpu_snapshot(stack: Stack | None = None) -> dict[str, float]:
    """CPU seconds used so far per component: its live processes plus what they reaped
    (PostgreSQL backends that exited are in the postmaster's children time)."""
    return {
        name: sum(s.cpu + s.children_cpu for s in procs.values())
        for name, procs in components(roots(stack)).items()
    }


class Monitor:
    """CPU (cores used over the measured interval) and peak RSS per component.

    Peak RSS is each process's VmHWM, sampled every ``interval`` seconds so that processes
    that exit early (pool connections) are still counted, and summed over a component's
    processes: for PostgreSQL that counts shared buffers once per backend, an upper bound."""

    def __init__(self, roots_: Mapping[str, int], interval: float = 0.5) -> None:
        self._roots = dict(roots_)
        self._interval = interval
        self._peaks: dict[str, dict[int, int]] = {name: {} for name in self._roots}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-monitor", daemon=True)
        self._before: dict[str, float] = {}
        self._started = 0.0
        self.cpu: dict[str, float] = {}  # cores, after the monitor stopped
        self.elapsed = 0.0

    def __enter__(self) -> "Monitor":
        self._before = self._cpu_and_sample()
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.elapsed = time.perf_counter() - self._started
        after = self._cpu_and_sample()
        self.cpu = {
            k: (after[k] - self._before.get(k, 0.0)) / self.elapsed if self.elapsed else 0.0
            for k in after
        }

    def add(self, name: str, pid: int) -> None:
        """Account for a process started after the monitor (a load generator like wrk)."""
        self._peaks.setdefault(name, {})
        self._roots[name] = pid

    def peak_rss_mb(self) -> dict[str, float]:
        return {name: sum(p.values()) / 1024 for name, p in self._peaks.items()}

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._cpu_and_sample()

    def _cpu_and_sample(self) -> dict[str, float]:
        cpu: dict[str, float] = {}
        for name, procs in components(self._roots).items():
            cpu[name] = sum(s.cpu + s.children_cpu for s in procs.values())
            peaks = self._peaks[name]
            for pid in procs:
                peaks[pid] = max(peaks.get(pid, 0), peak_rss_kb(pid))
        return cpu
