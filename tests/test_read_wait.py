"""The shared read-side poller (web/readwait.py) against a real PostgreSQL."""

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from models import Incident
from models.db import create_engine, session_scope
from tests.conftest import make_tenant
from tocsin.settings import Settings
from web.readwait import ProjectionWaiter

SLOW_SECONDS = 0.5


async def _incident(engine: AsyncEngine) -> str:
    tenant = await make_tenant(engine)
    now = datetime.now(UTC)
    incident_id = f"I{uuid.uuid4().hex[:12]}"
    async with session_scope(engine) as session:
        session.add(
            Incident(
                id=incident_id,
                service_id=tenant.service_id,
                dedup_key=incident_id,
                workflow_id=f"wf-{incident_id}",
                title="disk full",
                status="OPEN",
                urgency="high",
                escalation_status="ESCALATING",
                alert_count=1,
                created_at=now,
                last_alert_at=now,
                version=1,
            )
        )
    return incident_id


@contextmanager
def first_poll_slowed(engine: AsyncEngine) -> Iterator[asyncio.Event]:
    """The poller's first query sleeps in PostgreSQL after taking its snapshot; the event is
    set once that query has been sent."""
    sent = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow(_conn: Any, _cursor: Any, statement: str, *rest: Any) -> tuple[str, Any]:
        parameters = rest[0]
        if "FROM incident" in statement and not sent.is_set():
            statement = statement.replace(
                "FROM incident", f"FROM (SELECT pg_sleep({SLOW_SECONDS})) AS slow, incident", 1
            )
            loop.call_soon_threadsafe(sent.set)
        return statement, parameters

    event.listen(engine.sync_engine, "before_cursor_execute", slow, retval=True)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", slow)


async def test_a_wait_begun_during_a_query_is_answered_by_a_later_one(
    settings: Settings, engine: AsyncEngine
) -> None:
    """A query's snapshot may predate what a later request's client already saw (an ack
    answered meanwhile): its row must not answer that request."""
    incident_id = await _incident(engine)
    polling = create_engine(settings, pre_ping=False)
    waiter = ProjectionWaiter(polling)
    try:
        with first_poll_slowed(polling) as sent:
            early = asyncio.create_task(waiter.wait(incident_id, 10))
            await sent.wait()
            await asyncio.sleep(0.1)  # the slow query has its snapshot
            async with engine.begin() as conn:
                await conn.execute(
                    text("UPDATE incident SET status = 'ACKNOWLEDGED' WHERE id = :id"),
                    {"id": incident_id},
                )
            late = await waiter.wait(incident_id, 10)
            first = await early
        assert first is not None and first.status == "OPEN"
        assert late is not None and late.status == "ACKNOWLEDGED"
    finally:
        await waiter.close()
        await polling.dispose()
