"""Waiting in tests for what happens asynchronously (workflows, notifications, deliveries)."""

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(
    check: Callable[[], Awaitable[Any] | Any], what: str, seconds: float = 15
) -> Any:
    """The first truthy answer of ``check`` (plain or async) within ``seconds``."""
    for _ in range(int(seconds / 0.05)):
        found = check()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")
