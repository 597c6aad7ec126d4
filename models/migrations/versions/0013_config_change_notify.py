"""config change notifications: NOTIFY tocsin_config when integrations or suppression rules
change, so every API process drops its cached copy at once (web/config_changes.py)

Revision ID: 0013
Revises: 0012

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What the ingest path caches (web/config_cache.py). Statement-level: one notification per
# statement; PostgreSQL delivers it at commit and folds repeats within a transaction.
TABLES = ("integration", "suppression_rule")

NOTIFY = """
CREATE FUNCTION tocsin_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tocsin_config', TG_TABLE_NAME);
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.execute(NOTIFY)
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_config_changed"
            f" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION tocsin_config_changed()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_config_changed ON {table}")
    op.execute("DROP FUNCTION tocsin_config_changed()")
