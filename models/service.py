"""Services and their integrations (the keys monitoring tools send events with)."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.columns import timestamp, utcnow


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
