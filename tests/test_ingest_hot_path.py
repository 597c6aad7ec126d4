"""The ingest hot path: no configuration query per event, no wait for the worker, and yet
configuration changes apply at once (whichever process makes them) and a GET right after
the 202 finds the incident."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest_asyncio
from quart.typing import TestClientProtocol as QuartClient
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from models.db import session_scope
from tests.conftest import Tenant, make_api_key, new_key, trigger_body
from tests.polling import eventually
from tocsin.settings import Settings
from web.app import create_app
from web.config_changes import APPLICATION_NAME
from web.runtime import Runtime


class Api:
    """A private API process (its own engine, cache and task queue) whose SQL is counted."""

    def __init__(self, client: QuartClient, runtime: Runtime) -> None:
        self.client = client
        self.runtime = runtime
        self.statements: list[str] = []
        event.listen(runtime.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    def queries_on(self, table: str) -> int:
        return sum(f"FROM {table} " in s or f"FROM {table}\n" in s for s in self.statements)


@asynccontextmanager
async def private_api(settings: Settings, **changes: Any) -> AsyncIterator[Api]:
    """No worker polls its task queue and the read wait is long: an answer that waited for
    the projection would hang the test."""
    local = settings.model_copy(
        update={"task_queue": f"no-worker-{uuid.uuid4().hex[:8]}", "read_wait_seconds": 60.0}
        | changes
    )
    app = create_app(local)
    async with app.test_app() as running:
        yield Api(running.test_client(), app.extensions["tocsin"])


@pytest_asyncio.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with private_api(settings) as found:
        yield found


async def hearing(api: Api, expected: bool = True) -> None:
    await eventually(
        lambda: api.runtime.config.hearing == expected,
        f"the API process had hearing={expected}",
        seconds=10,
    )


async def eventually_status(api: Api, tenant: Tenant, status: int) -> None:
    """Until an event with the tenant's key is answered ``status`` (a notification is
    delivered after the writer's commit, asynchronously)."""

    async def answered() -> bool:
        answer = await api.client.post(
            "/api/events", json=trigger_body(new_key()), headers=tenant.token
        )
        return answer.status_code == status

    await eventually(answered, f"events answered {status}", seconds=5)


async def test_a_new_incident_is_answered_without_waiting_for_the_worker(
    api: Api, tenant: Tenant
) -> None:
    response = await asyncio.wait_for(
        api.client.post("/api/events", json=trigger_body(new_key()), headers=tenant.token), 20
    )
    assert response.status_code == 202
    result = (await response.get_json())["result"]
    assert result["action"] == "triggered"
    assert result["incident"]["status"] == "OPEN"
    assert result["incident"]["urgency"] == "HIGH"
    assert result["incident"]["id"].startswith("inc_")


async def test_repeated_events_read_no_configuration_from_the_database(
    api: Api, tenant: Tenant
) -> None:
    for _ in range(5):
        response = await api.client.post(
            "/api/events", json=trigger_body(new_key()), headers=tenant.token
        )
        assert response.status_code == 202
    assert api.queries_on("integration") == 1
    assert api.queries_on("suppression_rule") == 1


async def test_a_configuration_change_applies_to_the_next_event(
    api: Api, engine: AsyncEngine, tenant: Tenant
) -> None:
    admin = {"Authorization": f"Bearer {await make_api_key(engine, ['admin'])}"}
    first = await api.client.post("/api/events", json=trigger_body(new_key()), headers=tenant.token)
    assert (await first.get_json())["result"]["incident"]["status"] == "OPEN"

    rule = await api.client.post(
        f"/api/services/{tenant.service_id}/suppression-rules",
        json={"name": "mute cpu", "summaryContains": "CPU"},
        headers=admin,
    )
    assert rule.status_code == 201
    muted = await api.client.post("/api/events", json=trigger_body(new_key()), headers=tenant.token)
    assert (await muted.get_json())["result"]["incident"]["status"] == "SUPPRESSED"

    listed = await api.client.get(f"/api/services/{tenant.service_id}/integrations", headers=admin)
    integration = (await listed.get_json())["integrations"][0]["id"]
    deleted = await api.client.delete(
        f"/api/services/{tenant.service_id}/integrations/{integration}", headers=admin
    )
    assert deleted.status_code == 200
    refused = await api.client.post(
        "/api/events", json=trigger_body(new_key()), headers=tenant.token
    )
    assert refused.status_code == 403


async def test_an_incident_is_readable_right_after_its_202(http: Any, tenant: Tenant) -> None:
    """Through the shared stack (with a worker): the GET waits for the projection."""
    response = await http.post("/api/events", json=trigger_body(new_key()), headers=tenant.token)
    incident_id = response.json()["result"]["incident"]["id"]
    found = await http.get(f"/api/incidents/{incident_id}", headers=tenant.bearer)
    assert found.status_code == 200
    assert found.json()["id"] == incident_id


async def test_incidents_just_accepted_are_listed(http: Any, tenant: Tenant) -> None:
    """A list right after the 202s waits for the incidents this API process accepted."""
    answers = await asyncio.gather(
        *(
            http.post("/api/events", json=trigger_body(new_key()), headers=tenant.token)
            for _ in range(20)
        )
    )
    accepted = {a.json()["incident_key"] for a in answers}
    listed = await http.get(
        "/api/incidents", params={"serviceId": tenant.service_id}, headers=tenant.bearer
    )
    assert {i["id"] for i in listed.json()["incidents"]} == accepted


async def test_a_change_made_elsewhere_applies_at_once(
    settings: Settings, engine: AsyncEngine, tenant: Tenant
) -> None:
    """The CLI, another API process or SQL by hand: every API process hears of it, however
    long it would otherwise keep its answers."""
    async with private_api(settings, config_cache_seconds=3600.0) as api:
        await hearing(api)
        await eventually_status(api, tenant, 202)  # the key is now cached
        async with session_scope(engine) as session:
            await session.execute(
                text("UPDATE integration SET disabled = true WHERE service_id = :s"),
                {"s": tenant.service_id},
            )
        await eventually_status(api, tenant, 403)


async def test_changes_are_heard_again_after_the_listening_connection_drops(
    settings: Settings, engine: AsyncEngine, tenant: Tenant
) -> None:
    async with private_api(settings, config_cache_seconds=3600.0) as api:
        await hearing(api)
        await eventually_status(api, tenant, 202)
        async with session_scope(engine) as session:
            await session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = :name"
                ),
                {"name": APPLICATION_NAME},
            )
        await hearing(api, False)
        await hearing(api)
        async with session_scope(engine) as session:
            await session.execute(
                text("UPDATE integration SET disabled = true WHERE service_id = :s"),
                {"s": tenant.service_id},
            )
        await eventually_status(api, tenant, 403)
