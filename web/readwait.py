"""Waiting for the read side to show just-triggered incidents, for many requests at once.

Each ingest request waits until the projection has written its incident (read-your-writes).
One poller per API process serves every waiting request with a single indexed query per
tick, so the database sees a handful of queries per second instead of one per request per
tick.
"""

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from models import Incident
from models.db import session_scope

log = logging.getLogger("tocsin.web.readwait")

POLL_INTERVAL_SECONDS = 0.005


class ProjectionWaiter:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._waiting: dict[str, list[asyncio.Future[Incident]]] = {}
        self._poller: asyncio.Task[None] | None = None

    async def wait(self, incident_id: str, wait_seconds: float) -> Incident | None:
        """The incident row once it exists, or None after ``wait_seconds``."""
        future: asyncio.Future[Incident] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(incident_id, []).append(future)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        try:
            return await asyncio.wait_for(future, wait_seconds)
        except TimeoutError:
            return None
        finally:
            waiters = self._waiting.get(incident_id, [])
            if future in waiters:
                waiters.remove(future)
                if not waiters:
                    del self._waiting[incident_id]

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller

    async def _poll(self) -> None:
        while self._waiting:
            try:
                async with session_scope(self._engine) as session:
                    found = await session.exec(
                        select(Incident).where(col(Incident.id).in_(list(self._waiting)))
                    )
                    for incident in found.all():
                        for future in self._waiting.pop(incident.id, []):
                            if not future.done():
                                future.set_result(incident)
            except Exception:
                # The read side is down or slow: the waiters time out, the events are safe.
                log.warning("read-side poll failed", exc_info=True)
            await asyncio.sleep(POLL_INTERVAL_SECONDS)
