"""Read-side queries for the Incidents API (reads only: incident state is written by the
workflow's projection activity)."""

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.sql.expression import Select, SelectOfScalar

from models import Alert, Incident, IncidentTally, Service, TimelineEntry
from models.db import session_scope
from web.text import storable

MAX_ALERTS_IN_DETAIL = 100


async def get_incident(engine: AsyncEngine, incident_id: str) -> tuple[Incident, Service] | None:
    async with session_scope(engine, read_only=True) as session:
        result = await session.exec(
            select(Incident, Service)
            .join(Service, col(Service.id) == col(Incident.service_id))
            .where(Incident.id == incident_id)
        )
        row = result.first()
        return None if row is None else (row[0], row[1])


async def latest_alerts(engine: AsyncEngine, incident_id: str) -> Sequence[Alert]:
    async with session_scope(engine, read_only=True) as session:
        result = await session.exec(
            select(Alert)
            .where(Alert.incident_id == incident_id)
            .order_by(col(Alert.seq).desc())
            .limit(MAX_ALERTS_IN_DETAIL)
        )
        return list(reversed(result.all()))


def encode_cursor(incident: Incident) -> str:
    raw = json.dumps([incident.created_at.isoformat(), incident.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises ValueError for anything that is not a cursor this API produced."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, incident_id = json.loads(raw)
        if not storable(incident_id):
            raise ValueError("invalid cursor")
        return datetime.fromisoformat(created_at), str(incident_id)
    except Exception as err:
        raise ValueError("invalid cursor") from err


def incident_filters(status: str | None, service_ids: frozenset[str] | None) -> list[Any]:
    """The WHERE clauses of the incident list (shared by the page and its total)."""
    filters: list[Any] = []
    if status is not None:
        filters.append(col(Incident.status) == status)
    if service_ids is not None:
        filters.append(col(Incident.service_id).in_(sorted(service_ids)))
    return filters


def incident_page_query(
    filters: list[Any], limit: int, cursor: tuple[datetime, str] | None
) -> Select[Incident, Service]:
    """Newest first, keyset-paginated on (created_at, id): a deep page costs what the first
    does (the benchmark in bench/read_side.py EXPLAINs exactly this statement)."""
    page = (
        select(Incident, Service)
        .join(Service, col(Service.id) == col(Incident.service_id))
        .where(*filters)
        .order_by(col(Incident.created_at).desc(), col(Incident.id).desc())
        .limit(limit)
    )
    if cursor is not None:
        page = page.where(tuple_(col(Incident.created_at), col(Incident.id)) < tuple_(*cursor))
    return page


def incident_total_query(
    status: str | None, service_ids: frozenset[str] | None
) -> SelectOfScalar[int]:
    """The list's exact total from ``incident_tally``: a few rows per service, whatever the
    number of incidents."""
    query = select(func.coalesce(func.sum(IncidentTally.n), 0))
    if status is not None:
        query = query.where(col(IncidentTally.status) == status)
    if service_ids is not None:
        query = query.where(col(IncidentTally.service_id).in_(sorted(service_ids)))
    return query


async def list_incidents(
    engine: AsyncEngine,
    *,
    limit: int,
    status: str | None,
    service_ids: frozenset[str] | None,
    cursor: tuple[datetime, str] | None,
) -> tuple[list[tuple[Incident, Service]], int]:
    """Newest first, keyset-paginated on (created_at, id); returns the page and the total."""
    filters = incident_filters(status, service_ids)
    async with session_scope(engine, read_only=True) as session:
        rows = (await session.exec(incident_page_query(filters, limit, cursor))).all()
        total = (await session.exec(incident_total_query(status, service_ids))).one()
    return [(r[0], r[1]) for r in rows], int(total)


async def timeline_entries(
    engine: AsyncEngine,
    incident_id: str,
    *,
    kinds: tuple[str, ...] | None = None,
    after: int = 0,
    limit: int = 1000,
) -> Sequence[TimelineEntry]:
    """The incident's timeline in order, optionally only some kinds, after a sequence number."""
    query = select(TimelineEntry).where(
        TimelineEntry.incident_id == incident_id, col(TimelineEntry.seq) > after
    )
    if kinds is not None:
        query = query.where(col(TimelineEntry.kind).in_(kinds))
    async with session_scope(engine, read_only=True) as session:
        result = await session.exec(query.order_by(col(TimelineEntry.seq)).limit(limit))
        return result.all()
