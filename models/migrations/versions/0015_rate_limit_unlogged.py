"""rate_limit_bucket is UNLOGGED: a limit check commits without waiting for a WAL flush

Revision ID: 0015
Revises: 0014

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE rate_limit_bucket SET UNLOGGED")


def downgrade() -> None:
    op.execute("ALTER TABLE rate_limit_bucket SET LOGGED")
