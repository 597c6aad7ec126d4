"""incident_tally: incidents per service, status and shard, kept by triggers on incident

Revision ID: 0012
Revises: 0011

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARDS = 8  # a power of two: the shard is the incident id's hash & (SHARDS - 1)
MASK = SHARDS - 1

ADD = f"""
CREATE FUNCTION tocsin_incident_tally_add(
    p_service text, p_status text, p_id text, p_delta integer
) RETURNS void LANGUAGE sql AS $$
    INSERT INTO incident_tally AS t (service_id, status, shard, n)
    VALUES (p_service, p_status, hashtext(p_id) & {MASK}, p_delta)
    ON CONFLICT (service_id, status, shard) DO UPDATE SET n = t.n + excluded.n
$$
"""

# A status change moves one count between two rows. Both rows are always locked in
# (service, status) order, so two projections never wait on each other in a cycle.
KEEP = """
CREATE FUNCTION tocsin_incident_tally() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM tocsin_incident_tally_add(NEW.service_id, NEW.status, NEW.id, 1);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM tocsin_incident_tally_add(OLD.service_id, OLD.status, OLD.id, -1);
    ELSIF (OLD.service_id, OLD.status) < (NEW.service_id, NEW.status) THEN
        PERFORM tocsin_incident_tally_add(OLD.service_id, OLD.status, OLD.id, -1);
        PERFORM tocsin_incident_tally_add(NEW.service_id, NEW.status, NEW.id, 1);
    ELSE
        PERFORM tocsin_incident_tally_add(NEW.service_id, NEW.status, NEW.id, 1);
        PERFORM tocsin_incident_tally_add(OLD.service_id, OLD.status, OLD.id, -1);
    END IF;
    RETURN NULL;
END
$$
"""

TRIGGERS = (
    """
CREATE TRIGGER incident_tally_insert_delete AFTER INSERT OR DELETE ON incident
    FOR EACH ROW EXECUTE FUNCTION tocsin_incident_tally()
""",
    """
CREATE TRIGGER incident_tally_update AFTER UPDATE OF service_id, status ON incident
    FOR EACH ROW
    WHEN (OLD.service_id IS DISTINCT FROM NEW.service_id
          OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION tocsin_incident_tally()
""",
)

BACKFILL = f"""
INSERT INTO incident_tally (service_id, status, shard, n)
SELECT service_id, status, hashtext(id) & {MASK}, count(*) FROM incident
GROUP BY 1, 2, 3
"""


def upgrade() -> None:
    op.create_table(
        "incident_tally",
        sa.Column("service_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("service_id", "status", "shard"),
    )
    # Taken before the triggers exist and the backfill runs, so no write slips between.
    op.execute("LOCK TABLE incident IN SHARE ROW EXCLUSIVE MODE")
    op.execute(ADD)
    op.execute(KEEP)
    for trigger in TRIGGERS:
        op.execute(trigger)
    op.execute(BACKFILL)


def downgrade() -> None:
    op.execute("DROP TRIGGER incident_tally_update ON incident")
    op.execute("DROP TRIGGER incident_tally_insert_delete ON incident")
    op.execute("DROP FUNCTION tocsin_incident_tally()")
    op.execute("DROP FUNCTION tocsin_incident_tally_add(text, text, text, integer)")
    op.drop_table("incident_tally")
