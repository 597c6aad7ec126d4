"""The one way to reach the database: an engine per process and a session helper."""

import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from tocsin.settings import Settings


def create_engine(
    settings: Settings, *, pre_ping: bool = True, pool_size: int | None = None
) -> AsyncEngine:
    """``pre_ping`` tests each pooled connection before use (a round trip per checkout) so
    a request never fails on a connection PostgreSQL dropped; callers that retry on their
    own (the worker's activities, the API's rate limiter and read-side poller) go without
    it. ``pool_size`` defaults to TOCSIN_DB_POOL_SIZE."""
    size = settings.db_pool_size if pool_size is None else pool_size
    return create_async_engine(
        settings.sqlalchemy_url(), pool_size=size, max_overflow=size, pool_pre_ping=pre_ping
    )


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` running each statement in its own implicit transaction: no BEGIN and
    COMMIT round trips (a third of a lookup's socket writes in the worker's profile). At
    READ COMMITTED every statement sees its own snapshot either way, so reads see the same.
    One per engine, shared: building it copies the engine's options."""
    found = _AUTOCOMMIT.get(engine)
    if found is None:
        found = _AUTOCOMMIT[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return found


_AUTOCOMMIT: "weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine]" = weakref.WeakKeyDictionary()


@asynccontextmanager
async def session_scope(
    engine: AsyncEngine, *, read_only: bool = False
) -> AsyncIterator[AsyncSession]:
    """A session that commits on success and rolls back on error; ``read_only`` runs on
    ``autocommit(engine)``."""
    if read_only:
        engine = autocommit(engine)
    maker = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    async with maker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
