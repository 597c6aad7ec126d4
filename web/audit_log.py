"""``GET /api/audit-log``: every configuration change and every incident action a person
took, newest first (admins only). The rows are written by the changes themselves
(models/audit.py) and by the projection (activities/incident_audit.py); this only reads.
"""

import base64
import json
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, Field, ValidationError, field_validator
from quart import Blueprint, request
from quart_schema import document_querystring, document_response, tag
from sqlalchemy import tuple_
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from models import AuditEntry
from models.db import session_scope
from models.schedules import check_instant
from web.errors import ApiError, error_responses, invalid_request
from web.management import api_principal, require_unrestricted
from web.runtime import runtime
from web.schemas import CamelModel

blueprint = Blueprint("audit_log", __name__)

MAX_LIMIT = 200


class AuditEntryOut(CamelModel):
    id: int
    at: datetime
    actor: str = Field(description="api_key:<id>, user:<id>, slack:<name>, cli or system")
    actor_name: str | None = Field(description="the API key's or person's name, when known")
    action: str = Field(description="<targetType>.<verb>, e.g. service.update")
    target_type: str
    target_id: str
    before: dict[str, Any] | None = Field(description="null for a creation; secrets redacted")
    after: dict[str, Any] | None = Field(description="null for a deletion; secrets redacted")
    request_id: str | None = Field(description="the request's X-Request-ID, if it had one")


class AuditLogPage(CamelModel):
    entries: list[AuditEntryOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class AuditLogQuery(CamelModel):
    limit: int = Field(default=50, ge=1, description="capped at 200")
    since: AwareDatetime | None = Field(default=None, description="at or after this instant")
    until: AwareDatetime | None = Field(default=None, description="before this instant")
    actor: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    cursor: str | None = None

    @field_validator("since", "until")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        # In UTC here, so an instant at the ends of datetime's range is a 400, not a 500.
        return None if value is None else check_instant(value)


def entry_out(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut.model_validate(entry, from_attributes=True)


def encode_cursor(entry: AuditEntry) -> str:
    raw = json.dumps([entry.at.isoformat(), entry.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Raises ValueError for anything that is not a cursor this API produced."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, entry_id = json.loads(raw)
        if not isinstance(entry_id, int):
            raise ValueError("invalid cursor")
        return datetime.fromisoformat(at), entry_id
    except Exception as err:
        raise ValueError("invalid cursor") from err


async def audit_page(
    engine: AsyncEngine, query: AuditLogQuery
) -> tuple[list[AuditEntry], str | None]:
    """One page, newest first, keyset-paginated on (at, id); and the next page's cursor.
    Raises ValueError for a bad cursor."""
    limit = min(query.limit, MAX_LIMIT)
    statement = select(AuditEntry).order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
    equal = {
        "actor": query.actor,
        "action": query.action,
        "target_type": query.target_type,
        "target_id": query.target_id,
    }
    for name, value in equal.items():
        if value:
            statement = statement.where(getattr(AuditEntry, name) == value)
    if query.since is not None:
        statement = statement.where(col(AuditEntry.at) >= query.since)
    if query.until is not None:
        statement = statement.where(col(AuditEntry.at) < query.until)
    if query.cursor:
        at, entry_id = decode_cursor(query.cursor)
        statement = statement.where(
            tuple_(col(AuditEntry.at), col(AuditEntry.id)) < tuple_(at, entry_id)
        )
    async with session_scope(engine) as session:
        entries = list((await session.exec(statement.limit(limit))).all())
    next_cursor = encode_cursor(entries[-1]) if len(entries) == limit else None
    return entries, next_cursor


@blueprint.get("/api/audit-log")
@tag(["audit log"])
@document_querystring(AuditLogQuery)
@document_response(AuditLogPage, 200)
@error_responses(400, 401, 403)
async def list_route() -> dict[str, Any]:
    """Configuration changes and people's incident actions, newest first (scope admin, key
    not limited to services). Filters combine; ``cursor`` is the previous page's
    ``nextCursor``."""
    require_unrestricted(await api_principal("admin"))
    try:
        query = AuditLogQuery.model_validate(request.args.to_dict())
    except ValidationError as err:
        raise invalid_request(err) from err
    try:
        entries, next_cursor = await audit_page(runtime().engine, query)
    except ValueError as err:
        raise ApiError(400, "INVALID_REQUEST", "Invalid cursor", field="cursor") from err
    page = AuditLogPage(entries=[entry_out(e) for e in entries], next_cursor=next_cursor)
    return page.model_dump(mode="json", by_alias=True)
