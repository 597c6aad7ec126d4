"""The events rate limit is one limit for every API process (web/ratelimit.py)."""

import asyncio
import subprocess
import time
import uuid
from collections import Counter

import httpx
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from models import rate_limit
from models.db import create_engine
from tests.app_server import tocsin_env
from tests.conftest import Tenant, free_port, trigger_body
from tests.test_cli_and_stack import TOCSIN, wait_healthy
from tocsin.settings import Settings
from web.ratelimit import SharedLimiter

LIMIT = 30


def test_the_limit_holds_across_three_api_processes(settings: Settings, tenant: Tenant) -> None:
    """45 events on one key, round robin over 3 `tocsin api` processes: exactly the limit
    is accepted (each process counting alone would accept all 45)."""
    ports = [free_port() for _ in range(3)]
    env = tocsin_env(settings, TOCSIN_RATE_LIMIT_REQUESTS=str(LIMIT), TOCSIN_API_WORKERS="1")
    apis = [
        subprocess.Popen([*TOCSIN, "api"], env=env | {"TOCSIN_PORT": str(port)}) for port in ports
    ]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url, proc in zip(urls, apis, strict=True):
            wait_healthy(url, proc)
        prefix = f"shared-{uuid.uuid4().hex[:8]}"
        answers: list[tuple[int, int, str | None]] = []
        for i in range(45):
            which = i % 3
            response = httpx.post(
                f"{urls[which]}/api/events",
                json=trigger_body(f"{prefix}-{i}"),  # new incidents: no wait
                headers=tenant.token,
                timeout=30,
            )
            answers.append((which, response.status_code, response.headers.get("Retry-After")))
    finally:
        for proc in apis:
            proc.terminate()
        for proc in apis:
            proc.wait(30)
    statuses = Counter(status for _, status, _ in answers)
    assert statuses == {202: LIMIT, 429: 45 - LIMIT}
    assert [status for _, status, _ in answers[:LIMIT]] == [202] * LIMIT
    assert Counter(which for which, status, _ in answers if status == 202) == {0: 10, 1: 10, 2: 10}
    for _, status, retry_after in answers:
        if status == 429:
            assert retry_after is not None and 1 <= int(retry_after) <= 61


async def test_concurrent_checks_of_one_key_share_calls(engine: AsyncEngine) -> None:
    calls = 0

    def count(*args: object) -> None:
        nonlocal calls
        calls += 1

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        limiter = SharedLimiter(engine, 25, 60)
        key = f"coalesce-{uuid.uuid4().hex}"
        answers = await asyncio.gather(*(limiter.acquire(key) for _ in range(40)))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert answers.count(None) == 25
    assert all(isinstance(a, int) and 1 <= a <= 61 for a in answers if a is not None)
    assert calls <= 3  # the first waiter's call, then one for everyone who queued meanwhile


async def test_the_window_slides(engine: AsyncEngine) -> None:
    limiter = SharedLimiter(engine, 2, 2)
    key = f"slide-{uuid.uuid4().hex}"
    assert [await limiter.acquire(key) for _ in range(2)] == [None, None]
    retry_after = await limiter.acquire(key)
    assert retry_after is not None and 1 <= retry_after <= 3
    assert await limiter.acquire(f"other-{key}") is None  # another key is unaffected
    await asyncio.sleep(retry_after)
    assert await limiter.acquire(key) is None


async def test_without_postgres_each_process_limits_alone() -> None:
    """Events must keep flowing while PostgreSQL is down: the limit degrades, never fails."""
    dead = Settings(database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
    engine = create_engine(dead)
    try:
        limiter = SharedLimiter(engine, 3, 60)
        started = time.monotonic()
        answers = [await limiter.acquire("down") for _ in range(4)]
    finally:
        await engine.dispose()
    assert answers[:3] == [None, None, None]
    assert answers[3] == 60
    assert time.monotonic() - started < 5


async def test_sweep_drops_buckets_older_than_every_window(engine: AsyncEngine) -> None:
    """Keys never used again (a login name tried once) do not keep their rows."""
    old, recent = f"login:old-{uuid.uuid4().hex}", f"login:recent-{uuid.uuid4().hex}"
    async with engine.begin() as conn:
        await rate_limit.take(conn, recent, 1, 5, 900)
        await conn.execute(
            text(
                "INSERT INTO rate_limit_bucket (key, second, hits) VALUES"
                " (:key, floor(extract(epoch FROM now())) - 1000, 1)"
            ),
            {"key": old},
        )
        await rate_limit.sweep(conn, 900)
        left = (
            await conn.execute(
                text("SELECT key FROM rate_limit_bucket WHERE key IN (:old, :recent)"),
                {"old": old, "recent": recent},
            )
        ).scalars()
        assert list(left) == [recent]


async def test_counts_are_not_written_ahead(engine: AsyncEngine) -> None:
    """Each check commits a write; on a logged table that waits for a WAL flush (an fsync)
    on the ingest path. Counts are worth nothing after a crash (docs/operations.md)."""
    async with engine.connect() as conn:
        persistence = await conn.scalar(
            text("SELECT relpersistence::text FROM pg_class WHERE relname = 'rate_limit_bucket'")
        )
    assert persistence == "u"
