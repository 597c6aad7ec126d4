"""Writes the incident workflow's state to the read side.

Idempotent by construction: the incident row is only overwritten by a higher version, and
alerts, timeline entries and the audit log rows of people's actions are keyed by (incident
id, seq), so a retried or replayed activity changes nothing.

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
    """Upsert the snapshot (overwriting the row only with a newer version), insert the new
    alerts, timeline entries and audit rows, skipping those already written."""
    incident, alert, timeline, audit = (
        _table(m) for m in (Incident, Alert, TimelineEntry, AuditEntry)
    )
    snapshot = [c.name for c in incident.columns if c.name in IncidentSnapshot.model_fields]
    overwrite = ", ".join(
        f"{_q(c)} = excluded.{_q(c)}" for c in snapshot if c not in ("id", "created_at")
    )

    def rows(table: Table, source: str, conflict: str) -> str:
        """INSERT of ``table``'s rows given as a JSON array; ``incident_id`` from the call."""
        columns = [c.name for c in table.columns if not (table is audit and c.name == "id")]
        picked = [":incident_id" if c == "incident_id" else f"r.{_q(c)}" for c in columns]
        return (
            f"INSERT INTO {table.name} ({', '.join(map(_q, columns))})"
            f" SELECT {', '.join(picked)}"
            f" FROM jsonb_populate_recordset(NULL::{table.name}, {source}) AS r"
            f" ON CONFLICT {conflict}"
        )

    columns = ", ".join(map(_q, snapshot))
    alerts = rows(alert, "(SELECT d -> 'alerts' FROM doc)", "DO NOTHING")
    entries = rows(timeline, "(SELECT d -> 'timeline' FROM doc)", "DO NOTHING")
    audited = rows(audit, "CAST(:audit AS jsonb)", "(source_key) DO NOTHING")
    return text(
        "WITH doc AS (SELECT CAST(:doc AS jsonb) AS d),"
        f" written AS (INSERT INTO {incident.name} ({columns}) SELECT {columns}"
        f" FROM doc, jsonb_populate_record(NULL::{incident.name}, doc.d -> 'incident')"
        f" ON CONFLICT (id) DO UPDATE SET {overwrite}"
        f" WHERE {incident.name}.version < excluded.version),"
        f" alerts AS ({alerts}), entries AS ({entries}), audited AS ({audited})"
        " SELECT 1"
    )


def _q(name: str) -> str:
    return _QUOTE.quote(name)


_QUOTE = postgresql.dialect().identifier_preparer
