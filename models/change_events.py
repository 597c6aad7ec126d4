"""Change events (PagerDuty ``/v2/change/enqueue``): deploys and config changes per service.

They never open incidents or notify anyone; they are context shown on the service and on
incidents opened shortly after them. Rows older than ``RETENTION`` are pruned.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Index, and_, delete, or_
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.columns import jsonb, utcnow
from models.columns import timestamp as timestamp_column

RETENTION = timedelta(days=90)
# An incident shows the change events of its service from this long before it opened.
INCIDENT_LOOKBACK = timedelta(hours=1)


class ChangeEvent(SQLModel, table=True):
    __tablename__ = "change_event"
    __table_args__ = (Index("ix_change_event_service_time", "service_id", "timestamp", "id"),)

    id: str = Field(primary_key=True, max_length=40)
    service_id: str = Field(foreign_key="service.id", max_length=40)
    integration_id: str | None = Field(default=None, max_length=40)
    summary: str
    source: str | None = None
    # When the change happened (the sender's payload.timestamp, else when it arrived).
    timestamp: datetime = Field(sa_column=timestamp_column())
    custom_details: dict[str, Any] | None = Field(default=None, sa_column=jsonb())
    links: list[dict[str, Any]] = Field(default_factory=list, sa_column=jsonb(nullable=False))
    received_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column(index=True))


# Most rows any one read returns (the service list and an incident's recent changes).
MAX_LISTED = 100


async def record_change_event(session: AsyncSession, event: ChangeEvent) -> None:
    """Store ``event`` and prune what is past ``RETENTION``: rows received that long ago
    (any service, by the received_at index) and this service's rows whose change happened
    that long ago (by the service/time index). Both are index range scans, so pruning on
    every insert stays cheap and needs no background job."""
    session.add(event)
    cutoff = event.received_at - RETENTION
    await session.exec(
        delete(ChangeEvent).where(
            or_(
                col(ChangeEvent.received_at) < cutoff,
                and_(
                    col(ChangeEvent.service_id) == event.service_id,
                    col(ChangeEvent.timestamp) < cutoff,
                ),
            )
        )
    )


async def service_change_events(
    session: AsyncSession, service_id: str, now: datetime, limit: int = MAX_LISTED
) -> Sequence[ChangeEvent]:
    """The service's change events within retention, newest first."""
    return await _newest(session, service_id, now - RETENTION, None, limit)


async def incident_change_events(
    session: AsyncSession, service_id: str, opened_at: datetime, now: datetime
) -> Sequence[ChangeEvent]:
    """The service's changes from ``INCIDENT_LOOKBACK`` before the incident opened up to
    its opening: the likely culprits, newest first."""
    start = max(opened_at - INCIDENT_LOOKBACK, now - RETENTION)
    return await _newest(session, service_id, start, opened_at, MAX_LISTED)


async def _newest(
    session: AsyncSession, service_id: str, start: datetime, end: datetime | None, limit: int
) -> Sequence[ChangeEvent]:
    query = select(ChangeEvent).where(
        ChangeEvent.service_id == service_id, col(ChangeEvent.timestamp) >= start
    )
    if end is not None:
        query = query.where(col(ChangeEvent.timestamp) <= end)
    query = query.order_by(col(ChangeEvent.timestamp).desc(), col(ChangeEvent.id).desc()).limit(
        limit
    )
    return (await session.exec(query)).all()
