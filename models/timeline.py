"""The incident timeline: every alert, status change, note and update, in order."""

from datetime import datetime
from typing import Any

from sqlalchemy import PrimaryKeyConstraint
from sqlmodel import Field, SQLModel

from models.columns import jsonb, timestamp


class TimelineEntry(SQLModel, table=True):
    __tablename__ = "timeline_entry"
    __table_args__ = (PrimaryKeyConstraint("incident_id", "seq"),)

    incident_id: str = Field(foreign_key="incident.id", max_length=40)
    seq: int
    at: datetime = Field(sa_column=timestamp())
    kind: str = Field(max_length=32)
    # Who or what caused it: integration:<id>, api_key:<id>, user:<id>, timer, ...
    actor: str = Field(max_length=200)
    message: str
    data: dict[str, Any] = Field(default_factory=dict, sa_column=jsonb(nullable=False))
