"""Services and their integrations (the keys monitoring tools send events with)."""

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from models.columns import jsonb, timestamp, utcnow


class Service(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    description: str | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp())
    team_id: str | None = Field(default=None, foreign_key="team.id", index=True, max_length=40)
    # RESTRICT: a policy in use cannot be deleted (the API answers 409 POLICY_IN_USE first).
    escalation_policy_id: str | None = Field(
        default=None,
        foreign_key="escalation_policy.id",
        ondelete="RESTRICT",
        index=True,
        max_length=40,
    )
    # Where incidents are announced: a Slack channel id or name, and an outgoing webhook
    # (JSON on every lifecycle event, signed as docs/webhooks.md describes).
    slack_channel: str | None = Field(default=None, max_length=80)
    webhook_url: str | None = Field(default=None, max_length=2048)
    # Soft delete: the service's incidents and alerts keep pointing at it (history is kept);
    # a deleted service is hidden from the API and accepts no events.
    deleted_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))


class Integration(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=40)
    service_id: str = Field(foreign_key="service.id", index=True, max_length=40)
    name: str = Field(max_length=200)
    # SHA-256 of the key; the key itself is shown once at creation and never stored.
    key_hash: str = Field(unique=True, max_length=64)
    key_prefix: str = Field(max_length=8)
    disabled: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp())
    # What speaks to this key: "events" (the Events API, PagerDuty v2 and v1) or a native
    # integration type served at /api/integrations/<type>/<key> (docs/integrations.md).
    type: str = Field(default="events", max_length=32)
    # The type's options (web/integrations/config.py), validated when set.
    config: dict[str, Any] = Field(default_factory=dict, sa_column=jsonb(nullable=False))
    # The secret the sender signs requests with, sealed with tocsin.secret_box; None means
    # requests are not signed.
    signing_secret: str | None = None
