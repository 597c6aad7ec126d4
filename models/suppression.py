"""Suppression rules: per-service conditions under which a trigger does not page anyone.

``spec`` holds the rule's validated conditions and active window as JSON
(``web.suppression_match.SuppressionSpec``); the API validates it before every write.
"""

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from models.columns import jsonb, timestamp, utcnow


class SuppressionRule(SQLModel, table=True):
    __tablename__ = "suppression_rule"

    id: str = Field(primary_key=True, max_length=40)
    service_id: str = Field(foreign_key="service.id", ondelete="CASCADE", index=True, max_length=40)
    name: str = Field(max_length=200)
    spec: dict[str, Any] = Field(sa_column=jsonb(nullable=False))
    enabled: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp())
