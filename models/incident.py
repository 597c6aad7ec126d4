"""The incident read side, written only by the projection activity."""

from datetime import datetime
from typing import Any

from sqlalchemy import Index, PrimaryKeyConstraint
from sqlmodel import Field, SQLModel

from models.columns import jsonb, timestamp


class Incident(SQLModel, table=True):
    __table_args__ = (
        Index("ix_incident_created", "created_at", "id"),
        Index("ix_incident_service_created", "service_id", "created_at", "id"),
        Index("ix_incident_status_created", "status", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    service_id: str = Field(foreign_key="service.id", max_length=40)
    dedup_key: str = Field(max_length=255)
    workflow_id: str = Field(max_length=1000)
    title: str
    description: str | None = None
    status: str = Field(max_length=16)
    urgency: str = Field(max_length=8)
    priority: str | None = Field(default=None, max_length=4)
    assignee_id: str | None = Field(default=None, max_length=40)
    escalation_status: str = Field(max_length=16)
    alert_count: int
    created_at: datetime = Field(sa_column=timestamp())
    last_alert_at: datetime = Field(sa_column=timestamp())
    acknowledged_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))
    resolved_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))
    snoozed_until: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))
    status_before_snooze: str | None = Field(default=None, max_length=16)
    suppressed_by: str | None = Field(default=None, max_length=40)
    # The workflow's state version: a projection never overwrites a newer one.
    version: int
    # When the workflow task that decided this write started: orders writes before version
    # (activities/projection.py).
    decided_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))


class Alert(SQLModel, table=True):
    __table_args__ = (PrimaryKeyConstraint("incident_id", "seq"),)

    incident_id: str = Field(foreign_key="incident.id", max_length=40)
    seq: int
    received_at: datetime = Field(sa_column=timestamp())
    summary: str
    source: str
    severity: str = Field(max_length=16)
    payload: dict[str, Any] = Field(sa_column=jsonb(nullable=False))
    # What the sender attached besides the payload (PagerDuty Events v2 top-level fields).
    links: list[dict[str, Any]] = Field(default_factory=list, sa_column=jsonb(nullable=False))
    images: list[dict[str, Any]] = Field(default_factory=list, sa_column=jsonb(nullable=False))
    client: str | None = None
    client_url: str | None = None


class IncidentTally(SQLModel, table=True):
    """How many incidents each service has in each status: the lists' exact ``total`` in
    a few rows instead of a count over every incident (a Seq Scan at 100k incidents).

    Kept by triggers on ``incident`` (migration 0012) in the writer's own transaction, so it
    is exact whoever writes. Each (service, status) is spread over ``TALLY_SHARDS`` rows by
    incident id, so projections of one service's new incidents rarely wait on one row.
    """

    __tablename__ = "incident_tally"

    service_id: str = Field(primary_key=True, max_length=40)
    status: str = Field(primary_key=True, max_length=16)
    shard: int = Field(primary_key=True)
    n: int
