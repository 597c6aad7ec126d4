"""The events rate limit: a sliding window per key, shared by every API process.

The state lives in PostgreSQL (``tocsin_rate_limit_take``, migration 0010), the one shared
component every deployment already has, so N API processes together admit at most the
limit. Concurrent checks of one key in a process are coalesced into one call that asks for
as many tokens as there are waiters: a storm on one key costs a round trip per batch, not
per request. While PostgreSQL is unreachable the limit falls back to this process's memory
(``SlidingWindowLimiter``): events must keep flowing into Temporal without the read side.
"""

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from models import rate_limit
from models.db import autocommit
from web.keyed_batches import KeyedBatcher

log = logging.getLogger(__name__)


class SlidingWindowLimiter:
    """The same limit kept in one process's memory. Exact within the process under any
    concurrency, because the check and the record happen with no ``await`` in between."""

    def __init__(
        self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window = window_seconds
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    def acquire(self, key: str) -> int | None:
        """Record a request; return None if allowed, else the seconds to wait."""
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self._window:
            hits.popleft()
        if len(hits) >= self._limit:
            return max(1, math.ceil(hits[0] + self._window - now))
        hits.append(now)
        return None


class SharedLimiter:
    """The limit as PostgreSQL keeps it for all API processes, with the local fallback."""

    def __init__(
        self,
        engine: AsyncEngine,
        limit: int,
        window_seconds: float,
        *,
        timeout_seconds: float = 1.0,
        retry_shared_after_seconds: float = 5.0,
    ) -> None:
        self._engine = autocommit(engine)
        self._limit = limit
        self._window = max(1, math.ceil(window_seconds))
        self._timeout = timeout_seconds
        self._retry_shared_after = retry_shared_after_seconds
        self._local = SlidingWindowLimiter(limit, window_seconds)
        # Concurrent checks of one key: one shared call asks for a token per waiter.
        self._checks: KeyedBatcher[None, int | None] = KeyedBatcher(self._take)
        self._shared_down_until = 0.0

    async def acquire(self, key: str) -> int | None:
        """Count a request against ``key``; None if allowed, else the seconds to wait."""
        if time.monotonic() < self._shared_down_until:
            return self._local.acquire(key)
        return await self._checks.submit(key, None)

    async def _take(self, key: str, waiters: list[None]) -> list[int | None]:
        want = len(waiters)
        try:
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                taken = await rate_limit.take(conn, key, want, self._limit, self._window)
        except (SQLAlchemyError, OSError, TimeoutError) as err:
            log.warning("shared rate limit unreachable, limiting per process: %s", err)
            self._shared_down_until = time.monotonic() + self._retry_shared_after
            return [self._local.acquire(key) for _ in range(want)]
        return [None] * taken.granted + [taken.retry_after] * (want - taken.granted)


async def sweep_forever(engine: AsyncEngine, horizon_seconds: int, every_seconds: float) -> None:
    """Every ``every_seconds``, drop buckets older than the longest window (every API
    process runs this; the deletes are idempotent)."""
    while True:
        await asyncio.sleep(every_seconds)
        try:
            async with engine.begin() as conn:
                await rate_limit.sweep(conn, horizon_seconds)
        except (SQLAlchemyError, OSError) as err:
            log.warning("could not sweep old rate limit buckets: %s", err)
