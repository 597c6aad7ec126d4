"""ingestion: integration type/config/signing secret, alert links/images/client, change events

Revision ID: 0007
Revises: 0006

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EMPTY_LIST = sa.text("'[]'::jsonb")


def upgrade() -> None:
    op.add_column(
        "integration",
        sa.Column("type", sa.String(length=32), nullable=False, server_default="events"),
    )
    op.add_column(
        "integration",
        sa.Column(
            "config",
            postgresql.JSONB(),
            nullable=False,
            server_default=sa.text("'{}'::jsonb"),
        ),
    )
    op.add_column("integration", sa.Column("signing_secret", sa.String(), nullable=True))
    op.add_column(
        "alert",
        sa.Column("links", postgresql.JSONB(), nullable=False, server_default=_EMPTY_LIST),
    )
    op.add_column(
        "alert",
        sa.Column("images", postgresql.JSONB(), nullable=False, server_default=_EMPTY_LIST),
    )
    op.add_column("alert", sa.Column("client", sa.String(), nullable=True))
    op.add_column("alert", sa.Column("client_url", sa.String(), nullable=True))
    op.create_table(
        "change_event",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("service_id", sa.String(length=40), nullable=False),
        sa.Column("integration_id", sa.String(length=40), nullable=True),
        sa.Column("summary", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("custom_details", postgresql.JSONB(), nullable=True),
        sa.Column("links", postgresql.JSONB(), nullable=False, server_default=_EMPTY_LIST),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["service.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_change_event_service_time", "change_event", ["service_id", "timestamp", "id"]
    )
    op.create_index("ix_change_event_received_at", "change_event", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_change_event_received_at", table_name="change_event")
    op.drop_index("ix_change_event_service_time", table_name="change_event")
    op.drop_table("change_event")
    for column in ("client_url", "client", "images", "links"):
        op.drop_column("alert", column)
    for column in ("signing_secret", "config", "type"):
        op.drop_column("integration", column)
