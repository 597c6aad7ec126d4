"""``/api/users``: the people Tocsin pages (scope users:write for changes)."""

from typing import Any

from quart import Blueprint
from quart_schema import document_request, document_response, tag
from sqlmodel import col, select

from models import User
from models.db import session_scope
from models.directory import create_user, delete_user, update_user
from web.bodies import parse_body
from web.errors import error_responses
from web.management import (
    api_principal,
    not_found,
    refusals_as_api_errors,
    unrestricted_principal,
)
from web.management_schemas import Deleted, UserCreate, UserList, UserOut, UserPatch
from web.runtime import runtime

blueprint = Blueprint("users", __name__)

READ_SCOPES = ("services:read", "users:write")


def user_out(user: User) -> dict[str, Any]:
    return UserOut.model_validate(user, from_attributes=True).model_dump(mode="json", by_alias=True)


@blueprint.get("/api/users")
@tag(["users"])
@document_response(UserList, 200)
@error_responses(401, 403)
async def list_users() -> dict[str, Any]:
    """All users, oldest first (scope services:read or users:write)."""
    await api_principal(*READ_SCOPES)
    async with session_scope(runtime().engine) as session:
        users = (await session.exec(select(User).order_by(col(User.created_at)))).all()
    return {"users": [user_out(u) for u in users]}


@blueprint.post("/api/users")
@tag(["users"])
@document_request(UserCreate)
@document_response(UserOut, 201)
@error_responses(400, 401, 403, 409)
async def post_user() -> tuple[dict[str, Any], int]:
    """Create a user (scope users:write). 409 CONFLICT if the email is taken."""
    await unrestricted_principal("users:write")
    body = await parse_body(UserCreate)
    with refusals_as_api_errors():
        async with session_scope(runtime().engine) as session:
            user = await create_user(session, body.name, body.email, body.timezone, body.role)
    return user_out(user), 201


@blueprint.get("/api/users/<user_id>")
@tag(["users"])
@document_response(UserOut, 200)
@error_responses(401, 403, 404)
async def get_user(user_id: str) -> dict[str, Any]:
    """One user (scope services:read or users:write)."""
    await api_principal(*READ_SCOPES)
    async with session_scope(runtime().engine) as session:
        user = await session.get(User, user_id)
    if user is None:
        raise not_found("User")
    return user_out(user)


@blueprint.patch("/api/users/<user_id>")
@tag(["users"])
@document_request(UserPatch)
@document_response(UserOut, 200)
@error_responses(400, 401, 403, 404, 409)
async def patch_user(user_id: str) -> dict[str, Any]:
    """Change a user's name, email, timezone or role (scope users:write)."""
    await unrestricted_principal("users:write")
    body = await parse_body(UserPatch)
    changes = body.model_dump(exclude_unset=True)
    with refusals_as_api_errors():
        async with session_scope(runtime().engine) as session:
            user = await session.get(User, user_id)
            if user is None:
                raise not_found("User")
            await update_user(session, user, **changes)
    return user_out(user)


@blueprint.delete("/api/users/<user_id>")
@tag(["users"])
@document_response(Deleted, 200)
@error_responses(401, 403, 404)
async def delete_user_route(user_id: str) -> dict[str, Any]:
    """Delete a user: removes them from their teams and revokes their API keys
    (scope users:write)."""
    await unrestricted_principal("users:write")
    async with session_scope(runtime().engine) as session:
        user = await session.get(User, user_id)
        if user is None:
            raise not_found("User")
        await delete_user(session, user)
    return Deleted(id=user_id).model_dump(mode="json", by_alias=True)
