"""``GET /api/services/:id/change-events``: what changed on a service (deploys, config
changes sent to ``/v2/change/enqueue``), newest first, within the 90-day retention."""

from typing import Any

from pydantic import Field, ValidationError
from quart import Blueprint, request
from quart_schema import document_querystring, document_response, tag

from models.change_events import MAX_LISTED, service_change_events
from models.columns import utcnow
from models.db import session_scope
from web.errors import error_responses, invalid_request
from web.management import api_principal
from web.runtime import runtime
from web.schemas import CamelModel, ChangeEventOut
from web.services import accessible_service

blueprint = Blueprint("change_events", __name__)


class ChangeEventQuery(CamelModel):
    limit: int = Field(default=25, ge=1, description=f"capped at {MAX_LISTED}")


class ChangeEventList(CamelModel):
    change_events: list[ChangeEventOut]


@blueprint.get("/api/services/<service_id>/change-events")
@tag(["services"])
@document_querystring(ChangeEventQuery)
@document_response(ChangeEventList, 200)
@error_responses(400, 401, 403, 404)
async def list_route(service_id: str) -> dict[str, Any]:
    """The service's change events, newest first (scope services:read)."""
    principal = await api_principal("services:read")
    service = await accessible_service(principal, service_id)
    try:
        query = ChangeEventQuery.model_validate(request.args.to_dict())
    except ValidationError as err:
        raise invalid_request(err) from err
    async with session_scope(runtime().engine) as session:
        rows = await service_change_events(
            session, service.id, utcnow(), min(query.limit, MAX_LISTED)
        )
    page = ChangeEventList(
        change_events=[ChangeEventOut.model_validate(r, from_attributes=True) for r in rows]
    )
    return page.model_dump(mode="json", by_alias=True)
