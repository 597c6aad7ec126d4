"""events rate limit shared by every API process: rate_limit_bucket + tocsin_rate_limit_take()

Revision ID: 0010
Revises: 0009

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One round trip per (coalesced) check: the key's lock, the expiry of old buckets, the sum
# and the grant happen in one call, so API processes never both spend the last token.
# A bucket of second s stays counted while s >= now - window, i.e. at least `window`
# seconds after each of its hits: the limit is never exceeded, at most 1 s is lost.
TAKE = """
CREATE FUNCTION tocsin_rate_limit_take(
    p_key text, p_want integer, p_limit integer, p_window integer,
    OUT granted integer, OUT retry_after integer
) LANGUAGE plpgsql AS $$
DECLARE
    now_s bigint := floor(extract(epoch FROM clock_timestamp()));
    used integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('tocsin-rate:' || p_key, 0));
    DELETE FROM rate_limit_bucket WHERE key = p_key AND second < now_s - p_window;
    SELECT coalesce(sum(hits), 0) INTO used FROM rate_limit_bucket WHERE key = p_key;
    granted := least(p_want, greatest(p_limit - used, 0));
    IF granted > 0 THEN
        INSERT INTO rate_limit_bucket AS b (key, second, hits) VALUES (p_key, now_s, granted)
        ON CONFLICT (key, second) DO UPDATE SET hits = b.hits + excluded.hits;
    END IF;
    retry_after := 0;
    IF granted < p_want THEN
        SELECT greatest(1, min(second) + p_window + 1 - now_s) INTO retry_after
        FROM rate_limit_bucket WHERE key = p_key;
        retry_after := coalesce(retry_after, 1);
    END IF;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "rate_limit_bucket",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("second", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "second"),
    )
    op.execute(TAKE)


def downgrade() -> None:
    op.execute("DROP FUNCTION tocsin_rate_limit_take(text, integer, integer, integer)")
    op.drop_table("rate_limit_bucket")
