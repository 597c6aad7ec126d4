"""The bench's side of the wire: services to send to, Events API calls over the generators'
lean HTTP client (bench/http.py: the generator takes less of the shared CPU), and what the
read side holds afterwards, read straight from PostgreSQL."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from bench.http import Http
from bench.load import Call
from models.db import create_engine, session_scope
from models.provisioning import create_integration, create_service
from tocsin.settings import Settings

PAYLOAD = {"summary": "bench alert", "source": "bench", "severity": "critical"}


@dataclass(frozen=True)
class Tenant:
    service_id: str
    integration_key: str


@dataclass(frozen=True)
class Answer:
    accepted: bool
    label: str  # "trigger:triggered", "acknowledge:ignored", "trigger:HTTP 500"
    incident: str | None


async def send_event(http: Http, tenant: Tenant, action: str, dedup_key: str) -> Answer:
    """One Events API call; 202 is acceptance (the event is durable in Temporal)."""
    body: dict[str, Any] = {"event_action": action, "dedup_key": dedup_key}
    if action == "trigger":
        body["payload"] = PAYLOAD
    headers = {"Authorization": f"Token token={tenant.integration_key}"}
    status, data = await http.post("/api/events", body, headers)
    if status != 202:
        return Answer(False, f"{action}:HTTP {status}", None)
    answer = json.loads(data)
    return Answer(True, f"{action}:{answer['result']['action']}", answer.get("incident_key"))


def trigger_call(http: Http, tenant: Tenant, key: Callable[[int], str]) -> Call:
    async def call(n: int) -> tuple[bool, str]:
        answer = await send_event(http, tenant, "trigger", key(n))
        return answer.accepted, answer.label

    return call


async def provision(database_url: str, count: int, name: str) -> list[Tenant]:
    """``count`` services with one Events API integration each."""
    engine = create_engine(Settings(database_url=database_url))
    tenants = []
    try:
        async with session_scope(engine) as session:
            for n in range(count):
                service = await create_service(session, f"bench {name} {n}")
                _, key = await create_integration(session, service.id, "bench")
                tenants.append(Tenant(service.id, key))
    finally:
        await engine.dispose()
    return tenants


async def query(database_url: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Rows of one read-side query (the benchmark checks the tables, not the API)."""
    engine = create_engine(Settings(database_url=database_url))
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(sql), params)
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()
