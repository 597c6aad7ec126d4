"""A worker and an API started before their Temporal server (a host reboot, docker compose
starting everything at once, a server restarting during a deploy) wait for it instead of
exiting (and stop at once if told to meanwhile), then serve: the first trigger after it is
up is accepted and projected."""

import asyncio
import time
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from models import Incident
from models.db import session_scope
from tests.app_server import tocsin_env
from tests.chaos.processes import Processes, wait_ready, wait_until
from tests.conftest import Tenant, free_port, new_key, trigger_body
from tocsin.settings import Settings


async def test_worker_and_api_wait_for_a_temporal_server_that_is_not_up_yet(
    settings: Settings, engine: AsyncEngine, tenant: Tenant, procs: Processes
) -> None:
    temporal_port, api_port = free_port(), free_port()
    env = tocsin_env(
        settings,
        TEMPORAL_ADDRESS=f"127.0.0.1:{temporal_port}",
        TOCSIN_TASK_QUEUE=f"late-{uuid.uuid4().hex[:8]}",
        TOCSIN_PORT=str(api_port),
        TOCSIN_API_WORKERS="1",
    )
    worker = procs.tocsin("worker", env).start()
    api = procs.tocsin("api", env).start()
    # Stopped while it waits: it exits at once, as it would with a server to talk to.
    stopped = procs.tocsin("api", env | {"TOCSIN_PORT": str(free_port())}).start()

    async def all_retried() -> bool:
        retrying = "unreachable, retrying"
        return (
            retrying in procs.log_tail("worker", 200)
            and procs.log_tail("api", 200).count(retrying) >= 2
        )

    await wait_until(all_retried, 60, "the worker and the APIs retrying their connection")
    assert worker.alive and api.alive
    began = time.monotonic()
    await asyncio.to_thread(stopped.terminate)
    assert stopped.popen is not None and stopped.popen.returncode == 0
    assert time.monotonic() - began < 5
    await asyncio.to_thread(procs.temporal(temporal_port, procs.workdir / "temporal.db").start)

    url = f"http://127.0.0.1:{api_port}"
    await wait_ready(url, api)
    key = new_key("late")
    async with httpx.AsyncClient(base_url=url) as http:
        accepted = await http.post("/api/events", json=trigger_body(key), headers=tenant.token)
    assert accepted.status_code == 202, accepted.text
    incident_id = accepted.json()["incident_key"]

    async def projected() -> bool:
        async with session_scope(engine) as session:
            return await session.get(Incident, incident_id) is not None

    await wait_until(projected, 60, "the worker writing the incident")
    assert worker.alive and api.alive
