"""Configuration the ingest path reads on every event, kept briefly in each API process.

Every event needs its integration (looked up by key) and its service's suppression rules.
Reading both from PostgreSQL per request cost the API more CPU than the Temporal call that
makes the event durable (docs/benchmarks.md), so answers are kept for
``config_cache_seconds``. A configuration change made through this process clears the cache
at once (web/app.py, after every successful write); one made through another process (a
second API worker, the CLI) is seen within that period. Unknown keys are remembered too, so
a sender with a wrong key cannot turn each request into a query. While PostgreSQL is
unreachable an expired answer is served rather than failing the event
(tests/chaos/test_postgres_outage.py).
"""

import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from models import Integration
from models.db import session_scope
from tocsin.keys import hash_key
from web.suppression_lookup import enabled_rules
from web.suppression_match import SuppressionSpec

log = logging.getLogger("tocsin.web.config_cache")
T = TypeVar("T")
# Bounds memory when many distinct (e.g. wrong) keys arrive: the cache starts over.
MAX_ENTRIES = 10_000


class ConfigCache:
    def __init__(self, engine: AsyncEngine, ttl_seconds: float) -> None:
        self._engine = engine
        self._ttl = ttl_seconds
        self._entries: dict[Hashable, tuple[float, Any]] = {}

    def clear(self) -> None:
        self._entries.clear()

    async def integration(self, key: str, integration_type: str) -> Integration | None:
        """The enabled integration of this type with this key (detached: read it only)."""
        digest = hash_key(key)
        return await self._cached(
            ("integration", digest, integration_type),
            lambda: _load_integration(self._engine, digest, integration_type),
        )

    async def suppression_rules(self, service_id: str) -> list[tuple[str, SuppressionSpec]]:
        return await self._cached(
            ("suppression", service_id), lambda: enabled_rules(self._engine, service_id)
        )

    async def _cached(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            value: T = hit[1]
            return value
        try:
            loaded = await load()
        except (SQLAlchemyError, OSError):
            if hit is None:
                raise
            # PostgreSQL is unreachable: an event for a known key is still accepted (202 needs
            # only Temporal), so the last answer serves until the database is back.
            log.warning("configuration read failed; serving the cached answer", exc_info=True)
            stale: T = hit[1]
            return stale
        if self._ttl > 0:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (now + self._ttl, loaded)
        return loaded


async def _load_integration(
    engine: AsyncEngine, key_hash: str, integration_type: str
) -> Integration | None:
    async with session_scope(engine, read_only=True) as session:
        result = await session.exec(
            select(Integration).where(
                Integration.key_hash == key_hash,
                col(Integration.disabled).is_(False),
                Integration.type == integration_type,
            )
        )
        return result.first()
