"""incident_tally (migration 0012): the lists' exact total, kept by triggers on incident."""

import asyncio
import random
import uuid
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from models.migrate import alembic_config
from tests.conftest import make_tenant
from tocsin.settings import to_asyncpg_url

STATUSES = ("OPEN", "ACKNOWLEDGED", "SNOOZED", "RESOLVED", "SUPPRESSED")

INSERT = text(
    "INSERT INTO incident (id, service_id, dedup_key, workflow_id, title, status, urgency,"
    " escalation_status, alert_count, created_at, last_alert_at, version)"
    " VALUES (:id, :service, :id, :id, 'tally', :status, 'HIGH', 'ACTIVE', 1, :at, :at, 1)"
)


async def insert(conn: AsyncConnection, service: str, status: str) -> str:
    incident_id = f"inc_{uuid.uuid4().hex[:16]}"
    now = datetime.now(UTC)
    await conn.execute(INSERT, {"id": incident_id, "service": service, "status": status, "at": now})
    return incident_id


async def counted(conn: AsyncConnection, services: list[str]) -> tuple[dict, dict]:
    """(count(*) by service and status, the tally's sums by service and status)."""
    exact = await conn.execute(
        text(
            "SELECT service_id, status, count(*) FROM incident"
            " WHERE service_id = ANY(:s) GROUP BY 1, 2"
        ),
        {"s": services},
    )
    tally = await conn.execute(
        text(
            "SELECT service_id, status, sum(n) FROM incident_tally"
            " WHERE service_id = ANY(:s) GROUP BY 1, 2 HAVING sum(n) <> 0"
        ),
        {"s": services},
    )
    return {(r[0], r[1]): r[2] for r in exact}, {(r[0], r[1]): r[2] for r in tally}


async def test_tally_follows_inserts_status_changes_moves_and_deletes(
    engine: AsyncEngine,
) -> None:
    services = [(await make_tenant(engine)).service_id for _ in range(2)]
    rng = random.Random(12)
    async with engine.begin() as conn:
        ids = [await insert(conn, rng.choice(services), rng.choice(STATUSES)) for _ in range(60)]
    async with engine.begin() as conn:
        for incident_id in rng.sample(ids, 30):
            await conn.execute(
                text("UPDATE incident SET status = :s, version = version + 1 WHERE id = :id"),
                {"s": rng.choice(STATUSES), "id": incident_id},
            )
        for incident_id in rng.sample(ids, 10):  # a move between services
            await conn.execute(
                text("UPDATE incident SET service_id = :s WHERE id = :id"),
                {"s": rng.choice(services), "id": incident_id},
            )
        # Changes to other columns leave the tally alone.
        await conn.execute(
            text("UPDATE incident SET alert_count = alert_count + 1 WHERE id = ANY(:ids)"),
            {"ids": ids},
        )
        await conn.execute(text("DELETE FROM incident WHERE id = ANY(:ids)"), {"ids": ids[:7]})
    async with engine.connect() as conn:
        exact, tally = await counted(conn, services)
    assert sum(exact.values()) == 53
    assert tally == exact


async def test_concurrent_status_changes_neither_deadlock_nor_drift(engine: AsyncEngine) -> None:
    """Projections of one service change statuses at once: both rows a change touches are
    locked in one order, so none of them waits in a cycle (a deadlock would raise here)."""
    service = (await make_tenant(engine)).service_id
    async with engine.begin() as conn:
        ids = [await insert(conn, service, STATUSES[i % 2]) for i in range(40)]
    rng = random.Random(3)

    async def flip(incident_id: str) -> None:
        for _ in range(5):
            async with engine.begin() as conn:
                await conn.execute(
                    text("UPDATE incident SET status = :s WHERE id = :id"),
                    {"s": rng.choice(STATUSES[:3]), "id": incident_id},
                )
                await conn.execute(text("SELECT pg_sleep(0.002)"))

    await asyncio.gather(*(flip(i) for i in ids))
    async with engine.connect() as conn:
        exact, tally = await counted(conn, [service])
    assert sum(exact.values()) == 40 and tally == exact


async def test_migration_counts_the_incidents_already_there(
    engine: AsyncEngine, database_url: str
) -> None:
    name = f"tally_{uuid.uuid4().hex[:10]}"
    admin = engine.execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, query = to_asyncpg_url(database_url).partition("?")
    url = base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")
    fresh = create_async_engine(url)
    try:
        await asyncio.to_thread(command.upgrade, alembic_config(url), "0011")
        async with fresh.begin() as conn:
            await conn.execute(
                text("INSERT INTO service (id, name, created_at) VALUES ('svc_t', 'tally', now())")
            )
            for status in ["OPEN"] * 3 + ["RESOLVED"] * 2:
                await insert(conn, "svc_t", status)
        await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
        async with fresh.connect() as conn:
            exact, tally = await counted(conn, ["svc_t"])
        assert exact == {("svc_t", "OPEN"): 3, ("svc_t", "RESOLVED"): 2} == tally
    finally:
        await fresh.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
