"""Shared rate limits (events per key, sign-in attempts): hits per key and second.

Every API process counts here, so together they admit at most the limit. The operations
below are the only ones on the table; ``take`` calls ``tocsin_rate_limit_take()``
(migration 0010), which locks the key, expires, sums, grants and records in one round trip.
"""

from typing import NamedTuple

from sqlalchemy import BigInteger, Column, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import Field, SQLModel


class RateLimitBucket(SQLModel, table=True):
    __tablename__ = "rate_limit_bucket"

    key: str = Field(primary_key=True)
    second: int = Field(sa_column=Column(BigInteger, primary_key=True))
    hits: int


class Taken(NamedTuple):
    granted: int
    retry_after: int  # seconds until a hit leaves the window; 0 when all were granted


_TAKE = text(
    "SELECT granted, retry_after FROM tocsin_rate_limit_take(:key, :want, :limit, :window)"
)
_FORGET = text("DELETE FROM rate_limit_bucket WHERE key = :key")
_GIVE_BACK_ONE = text(
    "UPDATE rate_limit_bucket SET hits = hits - 1 WHERE key = :key AND hits > 0"
    " AND second = (SELECT max(second) FROM rate_limit_bucket WHERE key = :key)"
)
_SWEEP = text(
    "DELETE FROM rate_limit_bucket"
    " WHERE second < floor(extract(epoch FROM clock_timestamp())) - :horizon"
)


async def take(conn: AsyncConnection, key: str, want: int, limit: int, window: int) -> Taken:
    """Up to ``want`` of the key's ``limit`` hits per ``window`` seconds, atomically."""
    params = {"key": key, "want": want, "limit": limit, "window": window}
    granted, retry_after = (await conn.execute(_TAKE, params)).one()
    return Taken(int(granted), int(retry_after))


async def forget(conn: AsyncConnection, key: str) -> None:
    await conn.execute(_FORGET, {"key": key})


async def give_back_one(conn: AsyncConnection, key: str) -> None:
    """Return the key's most recent hit (a request that turned out not to count)."""
    await conn.execute(_GIVE_BACK_ONE, {"key": key})


async def sweep(conn: AsyncConnection, horizon_seconds: int) -> None:
    """Drop buckets older than every window: a key that is never used again (a login name
    tried once) would otherwise keep its rows, since only a key's own calls expire them."""
    await conn.execute(_SWEEP, {"horizon": horizon_seconds + 1})
