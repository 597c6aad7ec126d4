"""contact methods, notification rules and delivery records; service slack_channel, webhook_url

Revision ID: 0006
Revises: 0005

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("incident_id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("address", sa.String(length=2048), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("round", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(), nullable=True),
        sa.Column("external_id", sa.String(length=400), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(
        "ix_notification_incident", "notification", ["incident_id", "created_at"], unique=False
    )
    op.create_table(
        "contact_method",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=2048), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "type IN ('slack', 'email', 'webhook')", name="contact_method_type_check"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "type", "address", name="contact_method_user_type_address"),
    )
    op.create_index(
        "ix_contact_method_type_address", "contact_method", ["type", "address"], unique=False
    )
    op.create_table(
        "notification_attempt",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.String(), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(["key"], ["notification.key"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key", "attempt"),
    )
    op.create_table(
        "notification_rule",
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("urgency", sa.String(length=8), nullable=False),
        sa.Column("channels", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint(
            "urgency IN ('HIGH', 'MEDIUM', 'LOW')", name="notification_rule_urgency"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "urgency"),
    )
    op.add_column("service", sa.Column("slack_channel", sa.String(length=80), nullable=True))
    op.add_column("service", sa.Column("webhook_url", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    op.drop_column("service", "webhook_url")
    op.drop_column("service", "slack_channel")
    op.drop_table("notification_rule")
    op.drop_table("notification_attempt")
    op.drop_index("ix_contact_method_type_address", table_name="contact_method")
    op.drop_table("contact_method")
    op.drop_index("ix_notification_incident", table_name="notification")
    op.drop_table("notification")
