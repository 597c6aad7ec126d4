"""PostgreSQL stopped under a running stack (its own PostgreSQL, a real ``pg_ctl stop``):
``/readyz`` turns 503, events keep being accepted with 202 (durable in Temporal, which does
not need the read side), projections retry, and once PostgreSQL is back the read side catches
up completely (sent == stored). The catch-up time is reported (``catch_up_s``).
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from models import Incident
from models.db import create_engine, session_scope
from models.migrate import upgrade
from tests.app_server import tocsin_env
from tests.chaos.processes import Postgres, Processes, wait_ready, wait_until
from tests.conftest import free_port, make_tenant, trigger_body
from tocsin.settings import Settings

# Short, so the integration key's cached lookup expires during the outage.
CONFIG_CACHE_SECONDS = 1.0
EVENTS_WHILE_DOWN = 20
SEND_INTERVAL = 0.2  # the events take 4 s to send: the cache expires several times over


@pytest_asyncio.fixture
async def postgres(tmp_path: Path) -> AsyncIterator[Postgres]:
    """A PostgreSQL of this test's own (never the session's or the machine's)."""
    pg = await asyncio.to_thread(Postgres, tmp_path / "pg")
    try:
        await asyncio.to_thread(upgrade, pg.url)
        yield pg
    finally:
        await asyncio.to_thread(pg.close)


@pytest_asyncio.fixture
async def pg_engine(postgres: Postgres) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=postgres.url))
    yield engine
    await engine.dispose()


async def stored(engine: AsyncEngine, service_id: str) -> int:
    async with session_scope(engine) as session:
        query = select(func.count()).where(col(Incident.service_id) == service_id)
        return int((await session.exec(query)).one())


async def test_events_accepted_while_postgres_is_down_and_read_side_catches_up(
    settings: Settings,
    postgres: Postgres,
    pg_engine: AsyncEngine,
    procs: Processes,
    record_property: Callable[[str, Any], None],
) -> None:
    port = free_port()
    env = tocsin_env(
        settings,
        DATABASE_URL=postgres.url,
        TOCSIN_TASK_QUEUE=f"pg-outage-{uuid.uuid4().hex[:8]}",
        TOCSIN_PORT=str(port),
        TOCSIN_API_WORKERS="1",
        TOCSIN_CONFIG_CACHE_SECONDS=str(CONFIG_CACHE_SECONDS),
        TOCSIN_RATE_LIMIT_REQUESTS="1000000",
    )
    procs.tocsin("worker", env).start()
    api = procs.tocsin("api", env).start()
    url = f"http://127.0.0.1:{port}"
    await wait_ready(url, api)
    tenant = await make_tenant(pg_engine)

    async with httpx.AsyncClient(base_url=url, timeout=30) as http:

        async def post(key: str) -> httpx.Response:
            return await http.post("/api/events", json=trigger_body(key), headers=tenant.token)

        assert (await post(f"before-{uuid.uuid4().hex[:6]}")).status_code == 202

        async def one_stored() -> bool:
            return await stored(pg_engine, tenant.service_id) == 1

        await wait_until(one_stored, 60, "the first incident on the read side")

        await asyncio.to_thread(postgres.stop)

        async def not_ready() -> bool:
            response = await http.get("/readyz")
            return response.status_code == 503 and response.json()["checks"] == {
                "database": False,
                "temporal": True,
            }

        await wait_until(not_ready, 30, "/readyz 503 with the database down")

        for n in range(EVENTS_WHILE_DOWN):
            response = await post(f"down-{n}-{uuid.uuid4().hex[:6]}")
            assert response.status_code == 202, (n, response.text, procs.log_tail("api"))
            await asyncio.sleep(SEND_INTERVAL)

        await asyncio.to_thread(postgres.start)
        back = time.monotonic()
        assert postgres.server.get_uri() == postgres.url

        async def caught_up() -> bool:
            try:
                return await stored(pg_engine, tenant.service_id) == 1 + EVENTS_WHILE_DOWN
            except Exception:
                return False

        await wait_until(caught_up, 120, "the read side caught up (sent == stored)")
        catch_up = time.monotonic() - back
        record_property("catch_up_s", round(catch_up, 2))
        print(f"read side caught up {catch_up:.1f} s after PostgreSQL returned")

        async def ready() -> bool:
            return (await http.get("/readyz")).status_code == 200

        await wait_until(ready, 30, "/readyz 200 again")
