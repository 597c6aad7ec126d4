"""users and teams: placeholder, replaced at merge

This file only keeps the revision chain 0001 -> 0002 -> 0003 intact on the suppression
branch; the real 0002 (users, teams) comes from the management-API branch.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
