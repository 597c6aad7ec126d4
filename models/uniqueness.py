"""Unique names and keys: a friendly check before writing, and the constraint as the truth.

The check gives the usual answer a field-named 409; the flush catches the concurrent insert
the check could not see, so both paths end in the same Conflict.
"""

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.errors import Conflict


async def require_free(
    session: AsyncSession, column: Any, value: Any, field: str, message: str
) -> None:
    """Conflict(field, message) if a row already has ``value`` in ``column``."""
    taken = await session.exec(select(column).where(column == value))
    if taken.first() is not None:
        raise Conflict(field, message)


async def flush_unique(session: AsyncSession, field: str, message: str) -> None:
    """Flush; a unique violation (e.g. a concurrent insert) becomes Conflict(field, message)."""
    try:
        await session.flush()
    except IntegrityError as err:
        raise Conflict(field, message) from err


async def lock_row(session: AsyncSession, column: Any, value: Any) -> None:
    """Hold the row's lock until commit, so that concurrent read-then-write changes under
    it (adding the same team member, setting the same notification rule) run one after the
    other instead of racing to a unique violation."""
    await session.exec(select(column).where(column == value).with_for_update())
