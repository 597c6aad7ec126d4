"""Suppression rules API: CRUD of a service's rules (``/api/services/<id>/suppression-rules``).

The matching itself is pure (``web/suppression_match.py``); the ingest path asks
``web.suppression_lookup.suppressing_rule`` which rule, if any, suppresses a trigger.
"""

from datetime import datetime
from typing import Any

from pydantic import Field, ValidationError, field_validator
from quart import Blueprint, request
from quart_schema import document_request, document_response, tag
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Service, SuppressionRule
from models.audit import record, snapshot
from models.columns import utcnow
from models.db import session_scope
from tocsin.keys import new_id
from web.auth import Principal, authenticate
from web.bodies import read_json
from web.errors import ApiError, error_responses, invalid_request
from web.runtime import runtime
from web.schemas import CamelModel
from web.suppression_lookup import rule_order
from web.suppression_match import SpecFields, SuppressionSpec

blueprint = Blueprint("suppression", __name__)

# Bounds the work suppressing_rule does on every trigger.
MAX_RULES_PER_SERVICE = 100


class SuppressionRuleCreate(SuppressionSpec):
    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True


class SuppressionRulePatch(SpecFields):
    """Only the given fields change; ``null`` clears a condition or window field."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    enabled: bool | None = None

    @field_validator("name", "enabled")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for fields given in the body: omitting them is fine, null is not.
        if value is None:
            raise ValueError("cannot be null")
        return value


class SuppressionRuleOut(SpecFields):
    id: str
    service_id: str
    name: str
    enabled: bool
    created_at: datetime
    updated_at: datetime


class SuppressionRuleList(CamelModel):
    suppression_rules: list[SuppressionRuleOut] = Field(description="in evaluation order")


# --- helpers ---------------------------------------------------------------------------------


async def _principal(*any_of: str) -> Principal:
    principal = await authenticate(runtime(), request.headers.get("Authorization"))
    if not any(principal.has_scope(scope) for scope in any_of):
        principal.require_scope(any_of[0])
    return principal


async def _require_service(session: AsyncSession, principal: Principal, service_id: str) -> None:
    if not principal.can_access(service_id):
        raise ApiError(403, "SERVICE_ACCESS_DENIED", "API key has no access to this service")
    if await session.get(Service, service_id) is None:
        raise ApiError(404, "SERVICE_NOT_FOUND", "Service not found")


async def _rule(session: AsyncSession, service_id: str, rule_id: str) -> SuppressionRule:
    rule = await session.get(SuppressionRule, rule_id)
    if rule is None or rule.service_id != service_id:
        raise ApiError(404, "NOT_FOUND", "Suppression rule not found")
    return rule


def _invalid(err: ValidationError) -> ApiError:
    error = invalid_request(err)
    # A whole-rule error (e.g. no condition at all) names no single field.
    if not error.field:
        error.field = None
    return error


def _spec_of(data: dict[str, Any]) -> SuppressionSpec:
    try:
        return SuppressionSpec.model_validate(data)
    except ValidationError as err:
        raise _invalid(err) from err


def _out(rule: SuppressionRule) -> dict[str, Any]:
    out = SuppressionRuleOut.model_validate(
        {
            **rule.spec,
            "id": rule.id,
            "service_id": rule.service_id,
            "name": rule.name,
            "enabled": rule.enabled,
            "created_at": rule.created_at,
            "updated_at": rule.updated_at,
        }
    )
    return out.model_dump(mode="json", by_alias=True)


_SPEC_FIELDS = set(SpecFields.model_fields)

# --- routes ----------------------------------------------------------------------------------


@blueprint.get("/api/services/<service_id>/suppression-rules")
@tag(["suppression rules"])
@document_response(SuppressionRuleList, 200)
@error_responses(401, 403, 404)
async def list_rules(service_id: str) -> dict[str, Any]:
    """A service's suppression rules in evaluation order (scope services:read or
    services:write)."""
    principal = await _principal("services:read", "services:write")
    async with session_scope(runtime().engine) as session:
        await _require_service(session, principal, service_id)
        result = await session.exec(
            select(SuppressionRule)
            .where(SuppressionRule.service_id == service_id)
            .order_by(*rule_order())
        )
        rules = result.all()
    return {"suppressionRules": [_out(rule) for rule in rules]}


@blueprint.post("/api/services/<service_id>/suppression-rules")
@tag(["suppression rules"])
@document_request(SuppressionRuleCreate)
@document_response(SuppressionRuleOut, 201)
@error_responses(400, 401, 403, 404, 409)
async def create_rule(service_id: str) -> tuple[dict[str, Any], int]:
    """Create a suppression rule (scope services:write). It applies to the next trigger."""
    principal = await _principal("services:write")
    data = await read_json()
    try:
        body = SuppressionRuleCreate.model_validate(data)
    except ValidationError as err:
        raise _invalid(err) from err
    spec = _spec_of(body.model_dump(include=_SPEC_FIELDS))
    async with session_scope(runtime().engine) as session:
        await _require_service(session, principal, service_id)
        count = await session.exec(
            select(func.count())
            .select_from(SuppressionRule)
            .where(col(SuppressionRule.service_id) == service_id)
        )
        if count.one() >= MAX_RULES_PER_SERVICE:
            raise ApiError(
                409,
                "TOO_MANY_RULES",
                f"A service can have at most {MAX_RULES_PER_SERVICE} suppression rules",
            )
        rule = SuppressionRule(
            id=new_id("sup"),
            service_id=service_id,
            name=body.name,
            spec=spec.to_json(),
            enabled=body.enabled,
        )
        session.add(rule)
        record(session, "create", rule, after=snapshot(rule))
    return _out(rule), 201


@blueprint.get("/api/services/<service_id>/suppression-rules/<rule_id>")
@tag(["suppression rules"])
@document_response(SuppressionRuleOut, 200)
@error_responses(401, 403, 404)
async def get_rule(service_id: str, rule_id: str) -> dict[str, Any]:
    """One suppression rule (scope services:read or services:write)."""
    principal = await _principal("services:read", "services:write")
    async with session_scope(runtime().engine) as session:
        await _require_service(session, principal, service_id)
        rule = await _rule(session, service_id, rule_id)
    return _out(rule)


@blueprint.patch("/api/services/<service_id>/suppression-rules/<rule_id>")
@tag(["suppression rules"])
@document_request(SuppressionRulePatch)
@document_response(SuppressionRuleOut, 200)
@error_responses(400, 401, 403, 404)
async def patch_rule(service_id: str, rule_id: str) -> dict[str, Any]:
    """Change a suppression rule (scope services:write): only the given fields change,
    ``null`` clears a condition or window field; the result must still be a valid rule."""
    principal = await _principal("services:write")
    data = await read_json()
    try:
        patch = SuppressionRulePatch.model_validate(data)
    except ValidationError as err:
        raise _invalid(err) from err
    async with session_scope(runtime().engine) as session:
        await _require_service(session, principal, service_id)
        rule = await _rule(session, service_id, rule_id)
        before = snapshot(rule)
        changes = patch.model_dump(mode="json", by_alias=True, exclude_unset=True)
        spec_changes = patch.model_dump(
            mode="json", by_alias=True, exclude_unset=True, include=_SPEC_FIELDS
        )
        if spec_changes:
            rule.spec = _spec_of({**rule.spec, **spec_changes}).to_json()
        if "name" in changes:
            rule.name = changes["name"]
        if "enabled" in changes:
            rule.enabled = changes["enabled"]
        rule.updated_at = utcnow()
        session.add(rule)
        record(session, "update", rule, before=before, after=snapshot(rule))
    return _out(rule)


@blueprint.delete("/api/services/<service_id>/suppression-rules/<rule_id>")
@tag(["suppression rules"])
@error_responses(401, 403, 404)
async def delete_rule(service_id: str, rule_id: str) -> tuple[str, int]:
    """Delete a suppression rule (scope services:write); 204 on success."""
    principal = await _principal("services:write")
    async with session_scope(runtime().engine) as session:
        await _require_service(session, principal, service_id)
        rule = await _rule(session, service_id, rule_id)
        await session.delete(rule)
        record(session, "delete", rule, before=snapshot(rule))
    return "", 204
