"""escalation policies and steps; service.escalation_policy_id becomes a foreign key

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "escalation_policy",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(), nullable=True),
        sa.Column("repeat_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "repeat_count BETWEEN 0 AND 9", name="escalation_policy_repeat_count_check"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "escalation_step",
        sa.Column("policy_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("delay_minutes", sa.Integer(), nullable=False),
        sa.Column("targets", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("channels", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint(
            "delay_minutes BETWEEN 0 AND 1440", name="escalation_step_delay_minutes_check"
        ),
        sa.ForeignKeyConstraint(["policy_id"], ["escalation_policy.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("policy_id", "position"),
    )
    # Until now any string was accepted and no policy existed, so every stored id names
    # nothing; clear them rather than fail the foreign key.
    op.execute("UPDATE service SET escalation_policy_id = NULL")
    op.create_index(
        op.f("ix_service_escalation_policy_id"), "service", ["escalation_policy_id"], unique=False
    )
    op.create_foreign_key(
        "service_escalation_policy_id_fkey",
        "service",
        "escalation_policy",
        ["escalation_policy_id"],
        ["id"],
        ondelete="RESTRICT",
    )


def downgrade() -> None:
    op.drop_constraint("service_escalation_policy_id_fkey", "service", type_="foreignkey")
    op.drop_index(op.f("ix_service_escalation_policy_id"), table_name="service")
    op.drop_table("escalation_step")
    op.drop_table("escalation_policy")
