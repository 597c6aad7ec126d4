"""Writes the incident workflow's state to the read side.

Idempotent by construction: the incident row is only overwritten by a higher version, and
alerts, timeline entries and the audit log rows of people's actions are keyed by (incident
id, seq), so a retried or replayed activity changes nothing.
"""

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel
from temporalio import activity

from activities.incident_audit import audit_rows
from activities.names import PROJECT_INCIDENT
from models import Alert, AuditEntry, Incident, TimelineEntry
from workflows.messages import IncidentSnapshot, Projection


class ProjectionActivities:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # Built once with bound parameters, so SQLAlchemy compiles each statement once and
        # every call only binds values (a multi-row VALUES list compiled anew per call cost
        # more worker CPU than the round trip; docs/benchmarks.md).
        self._upsert = _incident_upsert()
        self._alerts = insert(_table(Alert)).on_conflict_do_nothing()
        self._timeline = insert(_table(TimelineEntry)).on_conflict_do_nothing()
        self._audit = insert(_table(AuditEntry)).on_conflict_do_nothing(
            index_elements=["source_key"]
        )

    @activity.defn(name=PROJECT_INCIDENT)
    async def project(self, projection: Projection) -> None:
        incident_id = projection.incident.id
        async with self._engine.begin() as conn:
            await conn.execute(self._upsert, projection.incident.model_dump())
            if projection.alerts:
                await conn.execute(
                    self._alerts,
                    [{**a.model_dump(), "incident_id": incident_id} for a in projection.alerts],
                )
            if projection.timeline:
                await conn.execute(
                    self._timeline,
                    [{**e.model_dump(), "incident_id": incident_id} for e in projection.timeline],
                )
                if audited := audit_rows(incident_id, projection.timeline):
                    await conn.execute(self._audit, audited)


def _table(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def _incident_upsert() -> Insert:
    """Insert the snapshot, or overwrite the row with it if its version is newer."""
    table = _table(Incident)
    fields = [c.name for c in table.columns if c.name in IncidentSnapshot.model_fields]
    upsert = insert(table)
    return upsert.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={name: upsert.excluded[name] for name in fields if name not in ("id", "created_at")},
        where=table.c.version < upsert.excluded.version,
    )
