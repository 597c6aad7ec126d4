"""incident lifecycle: snooze, suppression, timeline

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("incident", sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "incident", sa.Column("status_before_snooze", sa.String(length=16), nullable=True)
    )
    op.add_column("incident", sa.Column("suppressed_by", sa.String(length=40), nullable=True))
    op.create_table(
        "timeline_entry",
        sa.Column("incident_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("message", sa.String(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"]),
        sa.PrimaryKeyConstraint("incident_id", "seq"),
    )


def downgrade() -> None:
    op.drop_table("timeline_entry")
    op.drop_column("incident", "suppressed_by")
    op.drop_column("incident", "status_before_snooze")
    op.drop_column("incident", "snoozed_until")
