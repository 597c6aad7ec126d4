"""users, teams, team members; service team, escalation policy and soft delete; key owner

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:59:18.950053
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "team",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "user_account",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "team_member",
        sa.Column("team_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("team_id", "user_id"),
    )
    op.create_index("ix_team_member_user_id", "team_member", ["user_id"], unique=False)
    op.add_column("api_key", sa.Column("user_id", sa.String(length=40), nullable=True))
    op.create_index(op.f("ix_api_key_user_id"), "api_key", ["user_id"], unique=False)
    op.create_foreign_key("api_key_user_id_fkey", "api_key", "user_account", ["user_id"], ["id"])
    op.add_column("service", sa.Column("team_id", sa.String(length=40), nullable=True))
    op.add_column("service", sa.Column("escalation_policy_id", sa.String(length=40), nullable=True))
    op.add_column("service", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_service_team_id"), "service", ["team_id"], unique=False)
    op.create_foreign_key("service_team_id_fkey", "service", "team", ["team_id"], ["id"])


def downgrade() -> None:
    op.drop_constraint("service_team_id_fkey", "service", type_="foreignkey")
    op.drop_index(op.f("ix_service_team_id"), table_name="service")
    op.drop_column("service", "deleted_at")
    op.drop_column("service", "escalation_policy_id")
    op.drop_column("service", "team_id")
    op.drop_constraint("api_key_user_id_fkey", "api_key", type_="foreignkey")
    op.drop_index(op.f("ix_api_key_user_id"), table_name="api_key")
    op.drop_column("api_key", "user_id")
    op.drop_index("ix_team_member_user_id", table_name="team_member")
    op.drop_table("team_member")
    op.drop_table("user_account")
    op.drop_table("team")
