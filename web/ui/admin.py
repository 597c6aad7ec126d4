"""Admin pages: API keys (created with scopes, shown once, revoked), users (create, change
role), teams (create, change name and members) and the audit log. Admins only, as in the
API; the same request models and ``models`` functions as /api/api-keys, /api/users,
/api/teams and /api/audit-log."""

from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from quart import abort, flash, redirect, render_template, request, url_for
from sqlmodel import col, select

from models import Team, User
from models.catalog import list_api_keys, revoke_api_key
from models.db import session_scope
from models.directory import create_team, create_user, member_ids, update_team, update_user
from models.provisioning import SCOPES, create_api_key
from tocsin.keys import ApiKeyHasher
from web.audit_log import AuditLogQuery, audit_page
from web.management_schemas import ApiKeyCreate, TeamCreate, TeamPatch, UserCreate, UserPatch
from web.runtime import runtime
from web.ui import ui_blueprint
from web.ui.auth import page, principal
from web.ui.forms import REFUSALS, field_errors

blueprint = ui_blueprint("ui_admin", __name__)

ROLES = ("admin", "responder", "observer")


def _require_admin() -> None:
    """Like the API's admin routes: the admin scope on a principal not limited to services."""
    who = principal()
    who.require_scope("admin")
    if who.service_ids is not None:
        abort(403)


async def _users() -> list[User]:
    async with session_scope(runtime().engine) as session:
        return list((await session.exec(select(User).order_by(col(User.name)))).all())


# --- API keys ---------------------------------------------------------------------------


async def _keys_page(
    created: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> Any:
    async with session_scope(runtime().engine) as session:
        keys = list(await list_api_keys(session))
    html = await render_template(
        "admin_keys.html",
        keys=keys,
        scopes=sorted(SCOPES),
        users=await _users(),
        created=created,
        errors=errors or {},
        values=values or {},
    )
    return html, 400 if errors else 200


@blueprint.get("/admin/api-keys")
@page
async def keys_page() -> Any:
    _require_admin()
    return await _keys_page()


@blueprint.post("/admin/api-keys")
@page
async def keys_post() -> Any:
    _require_admin()
    form = await request.form
    values = {
        "name": (form.get("name") or "").strip(),
        "scopes": form.getlist("scopes"),
        "user_id": form.get("user_id") or None,
    }
    try:
        body = ApiKeyCreate.model_validate(values)
        async with session_scope(runtime().engine) as session:
            api_key, key = await create_api_key(
                session,
                body.name,
                body.scopes,
                None,
                user_id=body.user_id,
                hasher=ApiKeyHasher.from_settings(runtime().settings),
            )
    except ValidationError as err:
        return await _keys_page(errors=field_errors(err), values=values)
    except REFUSALS as err:
        return await _keys_page(errors={err.field: str(err)}, values=values)
    return await _keys_page(created={"name": api_key.name, "key": key})


@blueprint.post("/admin/api-keys/<key_id>/revoke")
@page
async def keys_revoke(key_id: str) -> Any:
    _require_admin()
    async with session_scope(runtime().engine) as session:
        api_key = await revoke_api_key(session, key_id)
    if api_key is None:
        abort(404)
    await flash(f"API key {api_key.name} revoked.", "info")
    return redirect(url_for("ui_admin.keys_page"))


# --- audit log --------------------------------------------------------------------------


@blueprint.get("/admin/audit-log")
@page
async def audit_page_view() -> Any:
    """The newest entries matching the filters (the API's query parameters), with a link
    to the next page."""
    _require_admin()
    filters = {k: v.strip() for k, v in request.args.items() if v.strip()}
    error = None
    entries: list[Any] = []
    next_cursor = None
    try:
        query = AuditLogQuery.model_validate(filters)
        entries, next_cursor = await audit_page(runtime().engine, query)
    except ValidationError as err:
        first = err.errors()[0]
        error = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    except ValueError:
        error = "invalid cursor"
    older = None
    if next_cursor is not None:
        query_string = urlencode({**filters, "cursor": next_cursor})
        older = f"{url_for('ui_admin.audit_page_view')}?{query_string}"
    html = await render_template(
        "admin_audit.html", entries=entries, filters=filters, error=error, older=older
    )
    return html, 400 if error else 200


# --- users ------------------------------------------------------------------------------


async def _users_page(
    errors: dict[str, str] | None = None, values: dict[str, str] | None = None
) -> Any:
    html = await render_template(
        "admin_users.html",
        users=await _users(),
        roles=ROLES,
        errors=errors or {},
        values=values or {},
    )
    return html, 400 if errors else 200


@blueprint.get("/admin/users")
@page
async def users_page() -> Any:
    _require_admin()
    return await _users_page()


@blueprint.post("/admin/users")
@page
async def users_post() -> Any:
    _require_admin()
    form = await request.form
    values = {k: (form.get(k) or "").strip() for k in ("name", "email", "timezone", "role")}
    try:
        body = UserCreate.model_validate({k: v for k, v in values.items() if v})
        async with session_scope(runtime().engine) as session:
            user = await create_user(session, body.name, body.email, body.timezone, body.role)
    except ValidationError as err:
        return await _users_page(field_errors(err), values)
    except REFUSALS as err:
        return await _users_page({err.field: str(err)}, values)
    await flash(f"User {user.name} created.", "info")
    return redirect(url_for("ui_admin.users_page"))


@blueprint.post("/admin/users/<user_id>")
@page
async def user_post(user_id: str) -> Any:
    """Change one user's role (and name), from the user's row."""
    _require_admin()
    form = await request.form
    changes = {k: form[k].strip() for k in ("name", "role") if form.get(k)}
    try:
        patch = UserPatch.model_validate(changes)
        async with session_scope(runtime().engine) as session:
            user = await session.get(User, user_id)
            if user is None:
                abort(404)
            await update_user(session, user, **patch.model_dump(exclude_unset=True))
    except ValidationError as err:
        await flash("; ".join(field_errors(err).values()), "error")
    except REFUSALS as err:
        await flash(str(err), "error")
    else:
        await flash(f"User {user.name} saved.", "info")
    return redirect(url_for("ui_admin.users_page"))


# --- teams ------------------------------------------------------------------------------


async def _teams_page(
    errors: dict[str, str] | None = None, values: dict[str, Any] | None = None
) -> Any:
    async with session_scope(runtime().engine) as session:
        teams = list((await session.exec(select(Team).order_by(col(Team.name)))).all())
        members = await member_ids(session, [t.id for t in teams])
    html = await render_template(
        "admin_teams.html",
        teams=teams,
        members=members,
        users=await _users(),
        errors=errors or {},
        values=values or {},
    )
    return html, 400 if errors else 200


@blueprint.get("/admin/teams")
@page
async def teams_page() -> Any:
    _require_admin()
    return await _teams_page()


@blueprint.post("/admin/teams")
@page
async def teams_post() -> Any:
    _require_admin()
    form = await request.form
    values = {"name": (form.get("name") or "").strip(), "member_ids": form.getlist("member_ids")}
    try:
        body = TeamCreate.model_validate(values)
        async with session_scope(runtime().engine) as session:
            team, _ = await create_team(session, body.name, body.member_ids)
    except ValidationError as err:
        return await _teams_page(field_errors(err), values)
    except REFUSALS as err:
        return await _teams_page({err.field: str(err)}, values)
    await flash(f"Team {team.name} created.", "info")
    return redirect(url_for("ui_admin.teams_page"))


@blueprint.post("/admin/teams/<team_id>")
@page
async def team_post(team_id: str) -> Any:
    """Rename a team and replace its members (the checked boxes)."""
    _require_admin()
    form = await request.form
    changes = {"name": (form.get("name") or "").strip(), "member_ids": form.getlist("member_ids")}
    try:
        patch = TeamPatch.model_validate(changes)
        async with session_scope(runtime().engine) as session:
            team = await session.get(Team, team_id)
            if team is None:
                abort(404)
            await update_team(session, team, name=patch.name, member_ids=patch.member_ids)
    except ValidationError as err:
        await flash("; ".join(field_errors(err).values()), "error")
    except REFUSALS as err:
        await flash(str(err), "error")
    else:
        await flash(f"Team {team.name} saved.", "info")
    return redirect(url_for("ui_admin.teams_page"))
