"""Writes the incident workflow's state to the read side.

Idempotent by construction: the incident row is only overwritten by a higher version, and
alerts are keyed by (incident id, seq), so a retried or replayed activity changes nothing.
"""

from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.names import PROJECT_INCIDENT
from models import Alert, Incident, TimelineEntry
from models.db import session_scope
from workflows.messages import Projection


class ProjectionActivities:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @activity.defn(name=PROJECT_INCIDENT)
    async def project(self, projection: Projection) -> None:
        row: dict[str, Any] = projection.incident.model_dump()
        upsert = insert(Incident).values(**row)
        upsert = upsert.on_conflict_do_update(
            index_elements=[Incident.__table__.c.id],  # type: ignore[attr-defined]
            set_={k: upsert.excluded[k] for k in row if k not in ("id", "created_at")},
            where=Incident.__table__.c.version < upsert.excluded.version,  # type: ignore[attr-defined]
        )
        async with session_scope(self._engine) as session:
            await session.execute(upsert)
            if projection.alerts:
                alerts = [
                    {**a.model_dump(), "incident_id": projection.incident.id}
                    for a in projection.alerts
                ]
                await session.execute(insert(Alert).values(alerts).on_conflict_do_nothing())
            if projection.timeline:
                entries = [
                    {**e.model_dump(), "incident_id": projection.incident.id}
                    for e in projection.timeline
                ]
                await session.execute(
                    insert(TimelineEntry).values(entries).on_conflict_do_nothing()
                )
