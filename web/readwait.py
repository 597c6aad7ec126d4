"""Waiting for the read side to show just-accepted incidents, for many requests at once.

An ingest answer does not wait for the projection; the reads that follow it do: a GET of the
incident, a repeated alert's answer, and a list (which waits for the incidents this process
accepted moments ago, so a client that triggers and then lists sees its incident). One
poller per API process serves every waiting request with one indexed query at a time, so
the database sees one query in flight however many requests wait. A query answers only the
requests that were waiting when it was sent; those that came during it are asked about at
once in the next, the rest after a tick.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection

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
        self._registered = 0  # waits begun, so the poller knows who came during a query
        # Incidents this process opened and no list has seen yet: id -> (service, until when
        # a list waits for it). Insertion order is deadline order.
        self._accepted: dict[str, tuple[str, float]] = {}

    def accepted(self, incident_id: str, service_id: str, wait_seconds: float) -> None:
        """A trigger this process answered opened ``incident_id``: lists wait for it."""
        now = time.monotonic()
        self._forget_expired(now)
        self._accepted[incident_id] = (service_id, now + wait_seconds)

    async def settle(self, service_ids: Collection[str] | None) -> None:
        """Wait until the incidents this process accepted for ``service_ids`` (None: every
        service) are on the read side, each at most until its own deadline."""
        now = time.monotonic()
        self._forget_expired(now)
        pending = [
            (incident_id, until)
            for incident_id, (service_id, until) in self._accepted.items()
            if service_ids is None or service_id in service_ids
        ]
        if not pending:
            return
        rows = await asyncio.gather(*(self.wait(i, until - now) for i, until in pending))
        for (incident_id, _), row in zip(pending, rows, strict=True):
            if row is not None:
                self._accepted.pop(incident_id, None)

    def _forget_expired(self, now: float) -> None:
        while self._accepted:
            incident_id, (_, until) = next(iter(self._accepted.items()))
            if until > now:
                return
            del self._accepted[incident_id]

    async def wait(self, incident_id: str, wait_seconds: float) -> Incident | None:
        """The incident row once it exists, or None after ``wait_seconds``."""
        future: asyncio.Future[Incident] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(incident_id, []).append(future)
        self._registered += 1
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        try:
            async with asyncio.timeout(wait_seconds):
                return await future
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
            # Only the waiters already here are answered by this query: a row read before a
            # request arrived could predate what the request's client last saw (an ack).
            asked = {incident_id: list(futures) for incident_id, futures in self._waiting.items()}
            registered = self._registered
            try:
                async with session_scope(self._engine, read_only=True) as session:
                    found = await session.exec(
                        select(Incident).where(col(Incident.id).in_(list(asked)))
                    )
                    for incident in found.all():
                        self._answer(incident, asked[incident.id])
            except Exception:
                # The read side is down or slow: the waiters time out, the events are safe.
                log.warning("read-side poll failed", exc_info=True)
                await asyncio.sleep(POLL_INTERVAL_SECONDS)
                continue
            if self._registered == registered:
                # Everyone waiting was just asked about: give the projection a tick.
                await asyncio.sleep(POLL_INTERVAL_SECONDS)

    def _answer(self, incident: Incident, futures: list[asyncio.Future[Incident]]) -> None:
        for future in futures:
            if not future.done():
                future.set_result(incident)
        # Waits that began during the query stay for the next one.
        later = [f for f in self._waiting.get(incident.id, []) if not f.done()]
        if later:
            self._waiting[incident.id] = later
        else:
            self._waiting.pop(incident.id, None)
