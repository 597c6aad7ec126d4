"""audit log: audit_entry (configuration changes and people's incident actions)

Revision ID: 0011
Revises: 0010

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.String(length=200), nullable=False),
        sa.Column("before", postgresql.JSONB(), nullable=True),
        sa.Column("after", postgresql.JSONB(), nullable=True),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.Column("source_key", sa.String(length=300), nullable=True),
        sa.UniqueConstraint("source_key", name="audit_entry_source_key_key"),
    )
    op.create_index("ix_audit_entry_at_id", "audit_entry", ["at", "id"])
    op.create_index("ix_audit_entry_target", "audit_entry", ["target_type", "target_id"])
    op.create_index("ix_audit_entry_actor", "audit_entry", ["actor"])
    op.create_index("ix_audit_entry_action", "audit_entry", ["action"])


def downgrade() -> None:
    op.drop_table("audit_entry")
