"""Real processes a chaos test can kill with SIGKILL and start again: Tocsin's worker and
API (``python -m tocsin.cli``), a dedicated Temporal dev server on a persisted database, a
dedicated PostgreSQL (pgserver) stopped and started with pg_ctl.

Each process runs in its own session (process group), so ``kill()`` is a real ``kill -9`` of
the whole component (the worker's child processes included) and nothing outlives the test:
``Processes`` kills every group still running when the test ends, whatever happened.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
from pgserver import PostgresServer
from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import time

from tocsin.devstack import start_temporal_dev_server

ROOT = Path(__file__).resolve().parents[2]
# Generous: the machine has two cores shared with other suites.
START_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0


class Proc:
    """One component: ``launch`` starts it (again) and returns its Popen."""

    def __init__(self, name: str, launch: Callable[[], "subprocess.Popen[bytes]"]) -> None:
        self.name = name
        self._launch = launch
        self.popen: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> "Proc":
        assert not self.alive, f"{self.name} is already running"
        self.popen = self._launch()
        self.starts += 1
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """``kill -9`` of the component's whole process group."""
        self._signal(signal.SIGKILL)
        self._reap(STOP_TIMEOUT)

    def terminate(self) -> None:
        """SIGTERM, then SIGKILL if it has not stopped within STOP_TIMEOUT."""
        self._signal(signal.SIGTERM)
        try:
            self._reap(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()

    def _signal(self, sig: int) -> None:
        if self.popen is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def _reap(self, timeout: float) -> None:
        if self.popen is not None:
            self.popen.wait(timeout)


class Processes:
    """What one test started; ``close()`` kills everything still running."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._procs: list[Proc] = []

    def add(self, name: str, launch: Callable[[], "subprocess.Popen[bytes]"]) -> Proc:
        proc = Proc(name, launch)
        self._procs.append(proc)
        return proc

    def tocsin(self, command: str, env: dict[str, str]) -> Proc:
        """``tocsin worker`` or ``tocsin api`` with ``env`` (not started yet)."""
        log = self.workdir / f"{command}.log"

        def launch() -> "subprocess.Popen[bytes]":
            with log.open("ab") as out:
                return subprocess.Popen(
                    [sys.executable, "-m", "tocsin.cli", command],
                    env=env,
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

        return self.add(command, launch)

    def temporal(self, port: int, db_file: Path) -> Proc:
        """A dev server of its own, always on ``port`` and ``db_file`` (restarts resume)."""

        def launch() -> "subprocess.Popen[bytes]":
            return start_temporal_dev_server(
                port=port,
                ui_port=None,
                db_file=db_file,
                log_file=self.workdir / "temporal.log",
                new_session=True,
            )

        return self.add("temporal", launch)

    def close(self) -> None:
        for proc in reversed(self._procs):
            if proc.alive:
                proc.kill()

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.workdir / f"{name}.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )


@contextmanager
def processes(workdir: Path) -> Iterator[Processes]:
    started = Processes(workdir)
    try:
        yield started
    finally:
        started.close()


async def wait_ready(api_url: str, proc: Proc, limit: float = START_TIMEOUT) -> float:
    """Seconds until ``/readyz`` answered 200 (the API reached PostgreSQL and Temporal).
    Async, so in-process fakes on the test's event loop keep answering meanwhile."""
    began = time.monotonic()
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() - began < limit:
            assert proc.alive, f"{proc.name} exited with {proc.popen and proc.popen.returncode}"
            with suppress(httpx.TransportError):
                if (await http.get(f"{api_url}/readyz")).status_code == 200:
                    return time.monotonic() - began
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{api_url}/readyz not ready after {limit:.0f}s")


async def wait_until(
    check: Callable[[], Awaitable[bool]], limit: float, what: str, every: float = 0.2
) -> float:
    """Seconds until ``check()`` held; AssertionError after ``limit`` (a hard bound)."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        if await check():
            return time.monotonic() - began
        await asyncio.sleep(every)
    raise AssertionError(f"not within {limit:.0f} s: {what}")


class Postgres:
    """A PostgreSQL of the test's own (pgserver), so stopping it harms nobody else."""

    def __init__(self, pgdata: Path) -> None:
        import pgserver

        self.server: PostgresServer = pgserver.get_server(pgdata, cleanup_mode="delete")
        self.url = self.server.get_uri()

    def stop(self) -> None:
        pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user
        )

    def start(self) -> None:
        self.server.ensure_postgres_running()

    def close(self) -> None:
        with suppress(Exception):
            self.server.cleanup()
