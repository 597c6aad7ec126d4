"""Change events (PagerDuty ``/v2/change/enqueue``): deploys and config changes per service.

They never open incidents or notify anyone; they are context shown on the service and on
incidents opened shortly after them. Rows older than ``RETENTION`` are pruned.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

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
