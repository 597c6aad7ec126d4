"""How people are reached (contact methods, rules per urgency) and what was sent to them.

``notification`` is the delivery record: one row per exactly-once key, claimed before the
send and marked after it, so a retried activity knows whether it already sent
(activities/deliveries.py). ``notification_attempt`` keeps every try with its outcome.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, PrimaryKeyConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.columns import jsonb, timestamp, utcnow

CONTACT_TYPES = ("slack", "email", "webhook")
URGENCIES = ("HIGH", "MEDIUM", "LOW")


class ContactMethod(SQLModel, table=True):
    __tablename__ = "contact_method"
    __table_args__ = (
        UniqueConstraint("user_id", "type", "address", name="contact_method_user_type_address"),
        # Interactions map a Slack user to a Tocsin user by id.
        Index("ix_contact_method_type_address", "type", "address"),
        CheckConstraint("type IN ('slack', 'email', 'webhook')", name="contact_method_type_check"),
    )

    id: str = Field(primary_key=True, max_length=40)
    user_id: str = Field(foreign_key="user_account.id", ondelete="CASCADE", max_length=40)
    type: str = Field(max_length=16)
    # A Slack user id (U…), an email address or an https URL.
    address: str = Field(max_length=2048)
    label: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp())


class NotificationRule(SQLModel, table=True):
    """The channels a user is reached on for incidents of one urgency."""

    __tablename__ = "notification_rule"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "urgency"),
        CheckConstraint("urgency IN ('HIGH', 'MEDIUM', 'LOW')", name="notification_rule_urgency"),
    )

    user_id: str = Field(foreign_key="user_account.id", ondelete="CASCADE", max_length=40)
    urgency: str = Field(max_length=8)
    channels: list[str] = Field(sa_column=jsonb(nullable=False))


class Notification(SQLModel, table=True):
    __table_args__ = (Index("ix_notification_incident", "incident_id", "created_at"),)

    key: str = Field(primary_key=True, max_length=400)
    incident_id: str = Field(max_length=40)
    channel: str = Field(max_length=16)
    purpose: str = Field(max_length=16)
    event_type: str = Field(max_length=40)
    address: str = Field(max_length=2048)
    user_id: str | None = Field(default=None, max_length=40)
    step: int | None = None
    round: int | None = None
    # sending (claimed, outcome unknown), sent, failed, skipped
    status: str = Field(max_length=16)
    attempts: int = 0
    detail: str | None = None
    # What the channel answered: Slack channel + ts, the email's Message-ID, HTTP status.
    external_id: str | None = Field(default=None, max_length=400)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp())


class NotificationAttempt(SQLModel, table=True):
    __tablename__ = "notification_attempt"
    __table_args__ = (PrimaryKeyConstraint("key", "attempt"),)

    key: str = Field(foreign_key="notification.key", ondelete="CASCADE", max_length=400)
    attempt: int
    at: datetime = Field(default_factory=utcnow, sa_column=timestamp())
    ok: bool
    detail: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=jsonb(nullable=False))
