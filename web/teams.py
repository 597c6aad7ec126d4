"""``/api/teams``: groups of users; a team owns services (scope users:write for changes)."""

from typing import Any

from quart import Blueprint
from quart_schema import document_request, document_response, tag
from sqlmodel import col, select

from models import Team
from models.db import session_scope
from models.directory import (
    add_member,
    create_team,
    delete_team,
    member_ids,
    remove_member,
    update_team,
)
from web.bodies import parse_body
from web.errors import error_responses
from web.management import (
    api_principal,
    not_found,
    refusals_as_api_errors,
    unrestricted_principal,
)
from web.management_schemas import Deleted, MemberAdd, TeamCreate, TeamList, TeamOut, TeamPatch
from web.runtime import runtime
from web.users import READ_SCOPES

blueprint = Blueprint("teams", __name__)


def team_out(team: Team, members: list[str]) -> dict[str, Any]:
    out = TeamOut(id=team.id, name=team.name, member_ids=members, created_at=team.created_at)
    return out.model_dump(mode="json", by_alias=True)


@blueprint.get("/api/teams")
@tag(["teams"])
@document_response(TeamList, 200)
@error_responses(401, 403)
async def list_teams() -> dict[str, Any]:
    """All teams with their member ids (scope services:read or users:write)."""
    await api_principal(*READ_SCOPES)
    async with session_scope(runtime().engine) as session:
        teams = (await session.exec(select(Team).order_by(col(Team.created_at)))).all()
        members = await member_ids(session, [t.id for t in teams])
    return {"teams": [team_out(t, members[t.id]) for t in teams]}


@blueprint.post("/api/teams")
@tag(["teams"])
@document_request(TeamCreate)
@document_response(TeamOut, 201)
@error_responses(400, 401, 403, 409)
async def post_team() -> tuple[dict[str, Any], int]:
    """Create a team (scope users:write). 409 CONFLICT if the name is taken; an unknown
    user id is a 400 naming ``memberIds``."""
    await unrestricted_principal("users:write")
    body = await parse_body(TeamCreate)
    with refusals_as_api_errors():
        async with session_scope(runtime().engine) as session:
            team, members = await create_team(session, body.name, body.member_ids)
    return team_out(team, members), 201


@blueprint.get("/api/teams/<team_id>")
@tag(["teams"])
@document_response(TeamOut, 200)
@error_responses(401, 403, 404)
async def get_team(team_id: str) -> dict[str, Any]:
    """One team (scope services:read or users:write)."""
    await api_principal(*READ_SCOPES)
    return await _team_response(team_id)


@blueprint.patch("/api/teams/<team_id>")
@tag(["teams"])
@document_request(TeamPatch)
@document_response(TeamOut, 200)
@error_responses(400, 401, 403, 404, 409)
async def patch_team(team_id: str) -> dict[str, Any]:
    """Rename a team or replace its members (scope users:write)."""
    await unrestricted_principal("users:write")
    body = await parse_body(TeamPatch)
    changes = body.model_dump(exclude_unset=True)
    with refusals_as_api_errors():
        async with session_scope(runtime().engine) as session:
            team = await _get_team(session, team_id)
            await update_team(
                session, team, name=changes.get("name"), member_ids=changes.get("member_ids")
            )
    return await _team_response(team_id)


@blueprint.delete("/api/teams/<team_id>")
@tag(["teams"])
@document_response(Deleted, 200)
@error_responses(401, 403, 404)
async def delete_team_route(team_id: str) -> dict[str, Any]:
    """Delete a team; its services stay, without a team (scope users:write)."""
    await unrestricted_principal("users:write")
    async with session_scope(runtime().engine) as session:
        await delete_team(session, await _get_team(session, team_id))
    return Deleted(id=team_id).model_dump(mode="json", by_alias=True)


@blueprint.post("/api/teams/<team_id>/members")
@tag(["teams"])
@document_request(MemberAdd)
@document_response(TeamOut, 200)
@error_responses(400, 401, 403, 404)
async def post_member(team_id: str) -> dict[str, Any]:
    """Add a user to a team; adding a member twice is harmless (scope users:write)."""
    await unrestricted_principal("users:write")
    body = await parse_body(MemberAdd)
    with refusals_as_api_errors():
        async with session_scope(runtime().engine) as session:
            await add_member(session, await _get_team(session, team_id), body.user_id)
    return await _team_response(team_id)


@blueprint.delete("/api/teams/<team_id>/members/<user_id>")
@tag(["teams"])
@document_response(TeamOut, 200)
@error_responses(401, 403, 404)
async def delete_member(team_id: str, user_id: str) -> dict[str, Any]:
    """Remove a user from a team; 404 if they are not a member (scope users:write)."""
    await unrestricted_principal("users:write")
    async with session_scope(runtime().engine) as session:
        if not await remove_member(session, await _get_team(session, team_id), user_id):
            raise not_found("Team member")
    return await _team_response(team_id)


async def _get_team(session: Any, team_id: str) -> Team:
    team = await session.get(Team, team_id)
    if team is None:
        raise not_found("Team")
    return team


async def _team_response(team_id: str) -> dict[str, Any]:
    async with session_scope(runtime().engine) as session:
        team = await _get_team(session, team_id)
        members = await member_ids(session, [team.id])
    return team_out(team, members[team.id])
