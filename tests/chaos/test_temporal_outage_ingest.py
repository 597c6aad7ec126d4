"""Temporal stopped under a running API: events are refused with 503 and ``Retry-After``
(nothing was accepted, so senders retry; never a 500 or a hang), and accepted again once
the server is back, without restarting the API."""

import time
import uuid

import httpx

from tests.app_server import tocsin_env
from tests.chaos.processes import Processes, wait_ready, wait_until
from tests.conftest import Tenant, free_port, trigger_body
from tocsin.settings import Settings


async def test_events_get_503_while_temporal_is_down(
    settings: Settings, tenant: Tenant, procs: Processes
) -> None:
    temporal_port = free_port()
    temporal = procs.temporal(temporal_port, procs.workdir / "temporal.db").start()
    api_port = free_port()
    env = tocsin_env(
        settings,
        TEMPORAL_ADDRESS=f"127.0.0.1:{temporal_port}",
        TOCSIN_TASK_QUEUE=f"outage-{uuid.uuid4().hex[:8]}",  # no worker needed for 202
        TOCSIN_PORT=str(api_port),
        TOCSIN_API_WORKERS="1",
    )
    api = procs.tocsin("api", env).start()
    url = f"http://127.0.0.1:{api_port}"
    await wait_ready(url, api)

    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def send() -> httpx.Response:
            body = trigger_body(f"outage-{uuid.uuid4().hex[:8]}")
            return await http.post("/api/events", json=body, headers=tenant.token)

        assert (await send()).status_code == 202
        temporal.kill()
        began = time.monotonic()
        refused = await send()
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "TEMPORAL_UNAVAILABLE"
        assert refused.headers["Retry-After"] == "5"
        assert time.monotonic() - began < 30  # refused, not left hanging

        temporal.start()

        async def accepted() -> bool:
            return (await send()).status_code == 202

        await wait_until(accepted, 60, "events accepted again after Temporal restarted")
