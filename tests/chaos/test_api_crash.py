"""The API process killed with ``kill -9`` while requests are in flight, then restarted:
clients that retry (an Events API client with the same ``Idempotency-Key``; a PagerDuty
Events v2 client with the same body and ``dedup_key``) never make a second alert.

Every event has its own dedup key, so each incident must end with exactly one alert. Every
request is sent again after the restart: those whose answer the kill swallowed (some of them
reached Temporal first) and those that were answered, as a client whose answer was lost on
the way would.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.app_server import tocsin_env
from tests.chaos.processes import Proc, Processes, wait_ready, wait_until
from tests.conftest import Tenant, free_port, trigger_body
from tests.pagerduty_helpers import incidents_of
from tocsin.settings import Settings

EVENTS = 40
IN_FLIGHT = 8
# Sends until this many were answered, then kills the API with the rest in flight.
KILL_AFTER = 10
RETRY_ATTEMPTS = 20

Request = tuple[str, dict[str, Any], dict[str, str]]  # path, body, headers


@dataclass
class Api:
    url: str
    proc: Proc


@pytest_asyncio.fixture
async def api(settings: Settings, procs: Processes, worker: None) -> AsyncIterator[Api]:
    """``tocsin api`` as a process of its own; the session's worker serves its queue."""
    port = free_port()
    env = tocsin_env(
        settings,
        TOCSIN_PORT=str(port),
        TOCSIN_API_WORKERS="1",
        TOCSIN_RATE_LIMIT_REQUESTS="1000000",
    )
    api = Api(f"http://127.0.0.1:{port}", procs.tocsin("api", env).start())
    await wait_ready(api.url, api.proc)
    yield api


def events_api(tenant: Tenant) -> Callable[[int], Request]:
    def request(n: int) -> Request:
        headers = tenant.token | {"Idempotency-Key": f"retry-{uuid.uuid4().hex}"}
        return "/api/events", trigger_body(f"crash-{n}-{uuid.uuid4().hex[:6]}"), headers

    return request


def pagerduty_v2(tenant: Tenant) -> Callable[[int], Request]:
    def request(n: int) -> Request:
        body = trigger_body(f"pd-crash-{n}-{uuid.uuid4().hex[:6]}") | {
            "routing_key": tenant.integration_key
        }
        return "/v2/enqueue", body, {}

    return request


async def send(http: httpx.AsyncClient, request: Request) -> int | None:
    """The status, or None when the connection failed (the process died mid-request)."""
    path, body, headers = request
    try:
        return (await http.post(path, json=body, headers=headers)).status_code
    except httpx.TransportError:
        return None


async def kill_mid_flight(http: httpx.AsyncClient, api: Proc, requests: list[Request]) -> int:
    """Sends every request, ``IN_FLIGHT`` at a time, and kills the API once ``KILL_AFTER``
    were answered; returns how many got no answer."""
    answered: list[int | None] = []
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(request: Request) -> None:
        async with gate:
            answered.append(await send(http, request))

    tasks = [asyncio.create_task(one(r)) for r in requests]

    async def enough() -> bool:
        return sum(1 for s in answered if s is not None) >= KILL_AFTER

    await wait_until(enough, 60, f"{KILL_AFTER} answers before the kill", every=0.005)
    api.kill()
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return sum(1 for s in answered if s is None)


async def retry_until_accepted(http: httpx.AsyncClient, request: Request) -> None:
    for _ in range(RETRY_ATTEMPTS):
        status = await send(http, request)
        if status is not None and 200 <= status < 300:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{request[0]} never accepted after the restart")


@pytest.mark.parametrize("client_kind", ["events_api", "pagerduty_v2"])
async def test_retries_after_kill_9_of_the_api_never_add_an_alert(
    api: Api, tenant: Tenant, client_kind: str, record_property: Callable[[str, Any], None]
) -> None:
    make = events_api(tenant) if client_kind == "events_api" else pagerduty_v2(tenant)
    requests = [make(n) for n in range(EVENTS)]
    url = api.url
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        unanswered = await kill_mid_flight(http, api.proc, requests)
    record_property("unanswered_at_kill", unanswered)
    assert unanswered > 0, "the kill should have cut requests in flight"

    api.proc.start()
    await wait_ready(url, api.proc)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for request in requests:
            await retry_until_accepted(http, request)

        async def all_projected() -> bool:
            return len(await incidents_of(http, tenant)) >= EVENTS

        await wait_until(all_projected, 60, "every incident on the read side")
        # Resolving is a barrier: the workflow handled every retry before the resolve, and
        # the read side shows the resolve only after the alerts before it.
        for _, body, _ in requests:
            resolve = {"event_action": "resolve", "dedup_key": body["dedup_key"]}
            response = await http.post("/api/events", json=resolve, headers=tenant.token)
            assert response.status_code == 202, response.text

        async def all_resolved() -> bool:
            return all(i["status"] == "RESOLVED" for i in await incidents_of(http, tenant))

        await wait_until(all_resolved, 60, "every incident resolved on the read side")
        incidents = await incidents_of(http, tenant)
        assert len(incidents) == EVENTS, "an incident was lost or duplicated"
        counts = {}
        for incident in incidents:
            detail = (
                await http.get(f"/api/incidents/{incident['id']}", headers=tenant.bearer)
            ).json()
            counts[incident["dedupKey"]] = detail["alertCount"]
    assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}
