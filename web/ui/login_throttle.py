"""Sign-in throttling per account and per client address, shared by every API process.

The counts live in PostgreSQL, taken with ``tocsin_rate_limit_take`` (migration 0010, the
same sliding-window buckets as the events rate limit), so another API process behind the
load balancer sees the same failures. Each attempt reserves one token of both buckets
*before* the password is checked, so parallel guesses cannot overrun the limit; a
successful sign-in gives them back (the account's failures are forgotten, the address's
token is returned), which leaves only failures counted.
"""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from models import rate_limit
from tocsin.settings import Settings

# The longest email kept in a key; longer input cannot name an account (emails are ≤ 320).
MAX_EMAIL = 320


@dataclass(frozen=True)
class LoginKeys:
    account: str
    address: str


def login_keys(email: str, address: str | None) -> LoginKeys:
    return LoginKeys(f"login:{email[:MAX_EMAIL]}", f"login-ip:{address or 'unknown'}")


async def reserve(engine: AsyncEngine, settings: Settings, keys: LoginKeys) -> int | None:
    """Take one attempt from both buckets: None to go ahead, else the seconds to wait. The
    address goes first, so a throttled address cannot add buckets for ever new emails."""
    window = settings.login_window_seconds
    async with engine.begin() as conn:
        for key, limit in (
            (keys.address, settings.login_attempts_per_address),
            (keys.account, settings.login_attempts_per_account),
        ):
            taken = await rate_limit.take(conn, key, 1, limit, window)
            if not taken.granted:
                return max(taken.retry_after, 1)
    return None


async def succeeded(engine: AsyncEngine, keys: LoginKeys) -> None:
    """Give back what a successful sign-in reserved: only failures stay counted."""
    async with engine.begin() as conn:
        await rate_limit.forget(conn, keys.account)
        await rate_limit.give_back_one(conn, keys.address)
