"""Read-side queries only the UI needs: filtered lists with counts, and the dashboard's
figures. Reads only; incident rows are written by the workflow's projection."""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from models import Incident, Service
from models.columns import utcnow
from models.db import session_scope

LIST_LIMIT = 100


@dataclass(frozen=True)
class IncidentFilters:
    status: str | None = None
    urgency: str | None = None
    service_id: str | None = None
    search: str | None = None


async def filtered_incidents(
    engine: AsyncEngine, filters: IncidentFilters, service_ids: frozenset[str] | None
) -> tuple[list[tuple[Incident, Service]], dict[str, int]]:
    """Newest first, at most LIST_LIMIT; counts per status over the other filters."""
    where: list[ColumnElement[bool]] = []
    if service_ids is not None:
        where.append(col(Incident.service_id).in_(service_ids))
    if filters.service_id:
        where.append(col(Incident.service_id) == filters.service_id)
    if filters.urgency:
        where.append(col(Incident.urgency) == filters.urgency)
    if filters.search:
        escaped = filters.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(col(Incident.title).ilike(f"%{escaped}%", escape="\\"))
    page_where = [*where]
    if filters.status:
        page_where.append(col(Incident.status) == filters.status)
    async with session_scope(engine) as session:
        rows = (
            await session.exec(
                select(Incident, Service)
                .join(Service, col(Service.id) == col(Incident.service_id))
                .where(*page_where)
                .order_by(col(Incident.created_at).desc(), col(Incident.id).desc())
                .limit(LIST_LIMIT)
            )
        ).all()
        counts = (
            await session.exec(
                select(Incident.status, func.count()).where(*where).group_by(Incident.status)
            )
        ).all()
    return [(r[0], r[1]) for r in rows], {status: int(n) for status, n in counts}


async def visible_services(
    engine: AsyncEngine, service_ids: frozenset[str] | None
) -> list[Service]:
    query = select(Service).order_by(Service.name)
    if service_ids is not None:
        query = query.where(col(Service.id).in_(service_ids))
    async with session_scope(engine) as session:
        return list((await session.exec(query)).all())


@dataclass(frozen=True)
class ResponseTimes:
    days: int
    incidents: int
    mtta_seconds: float | None
    mttr_seconds: float | None


async def open_by_urgency(
    engine: AsyncEngine, service_ids: frozenset[str] | None
) -> dict[str, int]:
    where = [col(Incident.status).in_(("OPEN", "ACKNOWLEDGED", "SNOOZED"))]
    if service_ids is not None:
        where.append(col(Incident.service_id).in_(service_ids))
    async with session_scope(engine) as session:
        rows = (
            await session.exec(
                select(Incident.urgency, func.count()).where(*where).group_by(Incident.urgency)
            )
        ).all()
    return {urgency: int(n) for urgency, n in rows}


async def response_times(
    engine: AsyncEngine, days: int, service_ids: frozenset[str] | None
) -> ResponseTimes:
    """Mean time to acknowledge and to resolve of incidents opened in the last ``days``."""
    created = col(Incident.created_at)
    where = [created >= utcnow() - timedelta(days=days), col(Incident.suppressed_by).is_(None)]
    if service_ids is not None:
        where.append(col(Incident.service_id).in_(service_ids))
    ack = func.avg(func.extract("epoch", col(Incident.acknowledged_at) - created))
    res = func.avg(func.extract("epoch", col(Incident.resolved_at) - created))
    async with session_scope(engine) as session:
        count, mtta, mttr = (await session.exec(select(func.count(), ack, res).where(*where))).one()
    return ResponseTimes(
        days=days,
        incidents=int(count),
        mtta_seconds=None if mtta is None else float(mtta),
        mttr_seconds=None if mttr is None else float(mttr),
    )
