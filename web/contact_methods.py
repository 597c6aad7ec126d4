"""``/api/users/<id>/contact-methods`` and ``/notification-rules``: how a person is paged."""

from typing import Any

from quart import Blueprint
from quart_schema import document_request, document_response, tag

from models import ContactMethod, NotificationRule, User
from models.contacts import (
    add_contact_method,
    check_urgency,
    clear_rule,
    contact_methods,
    delete_contact_method,
    rules,
    set_rule,
)
from models.db import session_scope
from web.bodies import parse_body
from web.errors import error_responses
from web.management import api_principal, not_found, refusals_as_api_errors, unrestricted_principal
from web.management_schemas import (
    ContactMethodCreate,
    ContactMethodList,
    ContactMethodOut,
    Deleted,
    NotificationRuleIn,
    NotificationRuleList,
    NotificationRuleOut,
)
from web.runtime import runtime
from web.users import READ_SCOPES
from web.webhook_targets import check_webhook_target

blueprint = Blueprint("contact_methods", __name__)


def method_out(method: ContactMethod) -> dict[str, Any]:
    out = ContactMethodOut.model_validate(method, from_attributes=True)
    return out.model_dump(mode="json", by_alias=True)


async def _require_user(session: Any, user_id: str) -> None:
    if await session.get(User, user_id) is None:
        raise not_found("User")


@blueprint.get("/api/users/<user_id>/contact-methods")
@tag(["users"])
@document_response(ContactMethodList, 200)
@error_responses(401, 403, 404)
async def list_methods(user_id: str) -> dict[str, Any]:
    """A user's Slack ids, email addresses and webhook URLs (scope services:read)."""
    await api_principal(*READ_SCOPES)
    async with session_scope(runtime().engine) as session:
        await _require_user(session, user_id)
        methods = await contact_methods(session, user_id)
    return {"contactMethods": [method_out(m) for m in methods]}


@blueprint.post("/api/users/<user_id>/contact-methods")
@tag(["users"])
@document_request(ContactMethodCreate)
@document_response(ContactMethodOut, 201)
@error_responses(400, 401, 403, 404, 409)
async def post_method(user_id: str) -> tuple[dict[str, Any], int]:
    """Add a contact method (scope users:write). A Slack id also lets Slack buttons act as
    this user."""
    await unrestricted_principal("users:write")
    body = await parse_body(ContactMethodCreate)
    with refusals_as_api_errors():
        if body.type == "webhook":
            check_webhook_target("address", body.address)
        async with session_scope(runtime().engine) as session:
            await _require_user(session, user_id)
            method = await add_contact_method(session, user_id, body.type, body.address, body.label)
    return method_out(method), 201


@blueprint.delete("/api/users/<user_id>/contact-methods/<method_id>")
@tag(["users"])
@document_response(Deleted, 200)
@error_responses(401, 403, 404)
async def delete_method(user_id: str, method_id: str) -> dict[str, Any]:
    """Remove a contact method (scope users:write)."""
    await unrestricted_principal("users:write")
    async with session_scope(runtime().engine) as session:
        method = await session.get(ContactMethod, method_id)
        if method is None or method.user_id != user_id:
            raise not_found("Contact method")
        await delete_contact_method(session, method)
    return Deleted(id=method_id).model_dump(mode="json", by_alias=True)


async def _rules_out(user_id: str) -> dict[str, Any]:
    async with session_scope(runtime().engine) as session:
        await _require_user(session, user_id)
        found = await rules(session, user_id)
    out = [NotificationRuleOut(urgency=u, channels=c, default=d) for u, c, d in found]  # type: ignore[arg-type]
    return NotificationRuleList(notification_rules=out).model_dump(mode="json", by_alias=True)


@blueprint.get("/api/users/<user_id>/notification-rules")
@tag(["users"])
@document_response(NotificationRuleList, 200)
@error_responses(401, 403, 404)
async def list_rules(user_id: str) -> dict[str, Any]:
    """The channels used for each urgency (scope services:read). Without a rule: every
    channel the user has a contact method for, email only for LOW."""
    await api_principal(*READ_SCOPES)
    return await _rules_out(user_id)


@blueprint.put("/api/users/<user_id>/notification-rules/<urgency>")
@tag(["users"])
@document_request(NotificationRuleIn)
@document_response(NotificationRuleList, 200)
@error_responses(400, 401, 403, 404)
async def put_rule(user_id: str, urgency: str) -> dict[str, Any]:
    """Set the channels for one urgency, e.g. HIGH: slack and email (scope users:write)."""
    await unrestricted_principal("users:write")
    body = await parse_body(NotificationRuleIn)
    with refusals_as_api_errors():
        async with session_scope(runtime().engine) as session:
            await _require_user(session, user_id)
            await set_rule(session, user_id, urgency, body.channels)
    return await _rules_out(user_id)


@blueprint.delete("/api/users/<user_id>/notification-rules/<urgency>")
@tag(["users"])
@document_response(NotificationRuleList, 200)
@error_responses(400, 401, 403, 404)
async def delete_rule(user_id: str, urgency: str) -> dict[str, Any]:
    """Back to the default channels for one urgency (scope users:write)."""
    await unrestricted_principal("users:write")
    with refusals_as_api_errors():
        urgency = check_urgency(urgency)
    async with session_scope(runtime().engine) as session:
        await _require_user(session, user_id)
        rule = await session.get(NotificationRule, (user_id, urgency))
        if rule is not None:
            await clear_rule(session, rule)
    return await _rules_out(user_id)
