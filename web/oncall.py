"""``GET /api/oncall?serviceId=``: who an incident on the service would page first right now
(scope services:read), and what brought each person: the policy's first step with its
teams' members and its schedules' on-call people resolved at this instant, or the service's
team when it has no policy (the same rule as the escalation, models/paging.py)."""

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, ValidationError
from quart import Blueprint, request
from quart_schema import document_querystring, document_response, tag

from models.db import session_scope
from models.paging import first_paged
from web.errors import error_responses, invalid_request
from web.management import api_principal, not_found
from web.runtime import runtime
from web.schemas import CamelModel
from web.services import accessible_service

blueprint = Blueprint("oncall", __name__)


class OnCallQuery(CamelModel):
    service_id: str = Field(min_length=1, max_length=40)


class OnCallVia(CamelModel):
    type: Literal["user", "team", "schedule"]
    id: str
    name: str | None = Field(default=None, description="the team's or schedule's name")


class OnCallUser(CamelModel):
    id: str
    name: str
    email: str
    via: list[OnCallVia] = Field(description="the first step's targets that bring them")


class OnCallSchedule(CamelModel):
    id: str
    name: str
    user_ids: list[str] = Field(description="on call now; empty: nobody")


class OnCallOut(CamelModel):
    service_id: str
    at: datetime
    source: Literal["policy", "team", "none"] = Field(
        description="policy: its first step; team: no policy, the service's team; none: "
        "nobody would be paged"
    )
    escalation_policy_id: str | None
    users: list[OnCallUser]
    schedules: list[OnCallSchedule]


@blueprint.get("/api/oncall")
@tag(["escalation policies"])
@document_querystring(OnCallQuery)
@document_response(OnCallOut, 200)
@error_responses(400, 401, 403, 404)
async def oncall_route() -> dict[str, Any]:
    """Who is paged first for the service right now (scope services:read)."""
    principal = await api_principal("services:read")
    try:
        query = OnCallQuery.model_validate(request.args.to_dict())
    except ValidationError as err:
        raise invalid_request(err) from err
    service = await accessible_service(principal, query.service_id)
    at = datetime.now(UTC)
    async with session_scope(runtime().engine) as session:
        found = await first_paged(session, service.id, at)
    if found is None:
        raise not_found("Service")
    resolved = found.resolved
    out = OnCallOut(
        service_id=service.id,
        at=at,
        source=found.source,  # type: ignore[arg-type]
        escalation_policy_id=None if found.policy is None else found.policy.id,
        users=[
            OnCallUser(
                id=u.id,
                name=u.name,
                email=u.email,
                via=[
                    OnCallVia(type=v.type, id=v.id, name=v.name)  # type: ignore[arg-type]
                    for v in resolved.via.get(u.id, [])
                ],
            )
            for u in resolved.users
        ],
        schedules=[
            OnCallSchedule(id=s.schedule_id, name=s.name, user_ids=list(s.user_ids))
            for s in resolved.schedules
        ],
    )
    return out.model_dump(mode="json", by_alias=True)
