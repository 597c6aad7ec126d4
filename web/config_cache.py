"""Configuration the ingest path reads on every event, kept briefly in each API process.

Every event needs its integration (looked up by key) and its service's suppression rules.
Reading both from PostgreSQL per request cost the API more CPU than the Temporal call that
makes the event durable (docs/benchmarks.md), so answers are kept. Any change, whichever
process makes it, clears the cache at once: PostgreSQL notifies every API process
(web/config_changes.py). While those notifications are heard an answer is kept up to
``HEARD_SECONDS``; while they are not (the listening connection is being re-established),
up to ``config_cache_seconds``. Unknown keys are remembered too, so a sender with a wrong key
cannot turn each request into a query. While PostgreSQL is unreachable an expired answer is
served rather than failing the event (tests/chaos/test_postgres_outage.py).
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
# How long an answer is kept while changes are heard: only a backstop, should a
# notification ever go missing.
HEARD_SECONDS = 300.0


class ConfigCache:
    def __init__(self, engine: AsyncEngine, ttl_seconds: float) -> None:
        """``ttl_seconds``: how long an answer is kept while changes are not heard; 0 reads
        the configuration on every event."""
        self._engine = engine
        self._ttl = ttl_seconds
        self.hearing = False
        # key -> (when loaded, answer)
        self._entries: dict[Hashable, tuple[float, Any]] = {}

    def clear(self) -> None:
        self._entries.clear()

    def set_hearing(self, hearing: bool) -> None:
        """Whether configuration changes are being heard (web/config_changes.py)."""
        self.hearing = hearing

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
        keep = HEARD_SECONDS if self.hearing else self._ttl
        if hit is not None and now - hit[0] < keep:
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
            self._entries[key] = (now, loaded)
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
