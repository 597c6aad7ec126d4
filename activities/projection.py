"""Writes the incident workflow's state to the read side.

Idempotent by construction: the incident row is only overwritten by a later write (see
``_projection_statement``), and alerts, timeline entries and the audit log rows of people's
actions are keyed by (incident id, seq), so a retried or replayed activity changes nothing.

The whole write is one statement (data-modifying CTEs fed one JSON document), run outside
an explicit transaction: a single statement is atomic on its own. One round trip instead of
five (BEGIN, incident, alerts, timeline, COMMIT): the projection was about a tenth of the
worker's CPU under the mixed benchmark (py-spy), most of it spent on those round trips.
"""

from pydantic_core import to_json
from sqlalchemy import Table, TextClause, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel
from temporalio import activity

from activities.incident_audit import audit_rows
from activities.names import PROJECT_INCIDENT
from models import Alert, AuditEntry, Incident, TimelineEntry
from models.db import autocommit
from workflows.messages import IncidentSnapshot, Projection


class ProjectionActivities:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = autocommit(engine)
        self._write = _projection_statement()

    @activity.defn(name=PROJECT_INCIDENT)
    async def project(self, projection: Projection) -> None:
        incident_id = projection.incident.id
        audited = audit_rows(incident_id, projection.timeline)
        async with self._engine.connect() as conn:
            await conn.execute(
                self._write,
                {
                    "doc": projection.model_dump_json(),
                    "audit": to_json(audited).decode(),
                    "incident_id": incident_id,
                },
            )


def _table(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def _projection_statement() -> TextClause:
    """Upsert the snapshot, insert the new alerts, timeline entries and audit rows, skipping
    those already written; overwrite only with a later write.

    A write is ordered by ``decided_at`` (the workflow time of the task that decided it),
    then by ``version``. This local activity writes before its workflow task completes: a
    worker killed in between leaves rows no history holds, and the retried task, which also
    sees what arrived meanwhile, can reach the same version and timeline seqs with other
    contents. It runs later, so its write replaces those rows and removes the abandoned
    task's entries past its own; an abandoned task's late write changes nothing. A write
    without ``decided_at`` (scheduled before this ordering existed) goes by version alone.
    """
    incident, alert, timeline, audit = (
        _table(m) for m in (Incident, Alert, TimelineEntry, AuditEntry)
    )
    snapshot = [c.name for c in incident.columns if c.name in IncidentSnapshot.model_fields]
    overwrite = ", ".join(
        f"{_q(c)} = excluded.{_q(c)}"
        for c in snapshot
        if c not in ("id", "created_at", "decided_at")
    )

    def rows(table: Table, source: str, conflict: str) -> str:
        """INSERT of ``table``'s rows given as a JSON array; ``incident_id`` from the call."""
        columns = [c.name for c in table.columns if not (table is audit and c.name == "id")]
        picked = [":incident_id" if c == "incident_id" else f"r.{_q(c)}" for c in columns]
        return (
            f"INSERT INTO {table.name} ({', '.join(map(_q, columns))})"
            f" SELECT {', '.join(picked)}"
            f" FROM jsonb_populate_recordset(NULL::{table.name}, {source}) AS r"
            f" WHERE NOT (SELECT stale FROM stamp) ON CONFLICT {conflict}"
        )

    def replaced_by_later(table: Table, key: str) -> str:
        """A row of ``key`` already there is replaced only by a later write."""
        kept = {"id", *key.split(", ")}
        replace = ", ".join(
            f"{_q(c.name)} = excluded.{_q(c.name)}" for c in table.columns if c.name not in kept
        )
        return f"({key}) DO UPDATE SET {replace} WHERE (SELECT later FROM stamp)"

    columns = ", ".join(map(_q, snapshot))
    alerts = rows(alert, "(SELECT d -> 'alerts' FROM doc)", "DO NOTHING")
    entries = rows(
        timeline,
        "(SELECT d -> 'timeline' FROM doc)",
        replaced_by_later(timeline, "incident_id, seq"),
    )
    audited = rows(audit, "CAST(:audit AS jsonb)", replaced_by_later(audit, "source_key"))
    return text(
        "WITH doc AS (SELECT CAST(:doc AS jsonb) AS d),"
        # held: the workflow time of the write the row holds
        " held AS (SELECT COALESCE(max(decided_at), '-infinity') AS at"
        f" FROM {incident.name} WHERE id = :incident_id),"
        # later: this write replaces an earlier task's; stale: an abandoned task's late
        # write; [first, beyond): the timeline seqs this write carries
        " stamp AS (SELECT held.at < s.at AS later, held.at > s.at AS stale, s.first,"
        " s.first + s.count AS beyond FROM held, (SELECT"
        " COALESCE(CAST(d -> 'incident' ->> 'decided_at' AS timestamptz), (SELECT at FROM held))"
        " AS at, CAST(d ->> 'timeline_from' AS integer) AS first,"
        " jsonb_array_length(d -> 'timeline') AS count FROM doc) AS s),"
        f" written AS (INSERT INTO {incident.name} ({columns}) SELECT {columns}"
        f" FROM doc, jsonb_populate_record(NULL::{incident.name}, doc.d -> 'incident')"
        f" ON CONFLICT (id) DO UPDATE SET {overwrite},"
        f" decided_at = COALESCE(excluded.decided_at, {incident.name}.decided_at)"
        " WHERE (SELECT later FROM stamp) OR (NOT (SELECT stale FROM stamp)"
        f" AND {incident.name}.version < excluded.version)),"
        f" alerts AS ({alerts}), entries AS ({entries}), audited AS ({audited}),"
        f" abandoned AS (DELETE FROM {timeline.name} WHERE incident_id = :incident_id"
        " AND seq >= (SELECT beyond FROM stamp) AND (SELECT later FROM stamp)),"
        # audit rows of an abandoned task's entries this write does not carry
        f" unaudited AS (DELETE FROM {audit.name} WHERE target_type = 'incident'"
        " AND target_id = :incident_id AND source_key LIKE 'incident:%'"
        " AND split_part(source_key, ':', 3)::integer >= (SELECT first FROM stamp)"
        " AND source_key <> ALL (SELECT r ->> 'source_key'"
        " FROM jsonb_array_elements(CAST(:audit AS jsonb)) AS r)"
        " AND (SELECT later FROM stamp))"
        " SELECT 1"
    )


def _q(name: str) -> str:
    return _QUOTE.quote(name)


_QUOTE = postgresql.dialect().identifier_preparer
