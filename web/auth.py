"""Who is calling: integration keys (``Token token=``), API keys (``Bearer``) and people
signed in to the web UI (``user_principal``)."""

import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from models import ApiKey, User
from models.audit import Actor, acting_as
from models.db import session_scope
from models.directory import team_service_ids
from tocsin.keys import ApiKeyHasher
from web import request_ids
from web.config_cache import ConfigCache
from web.errors import ApiError
from web.integrations.registry import EVENTS_API
from web.runtime import Runtime

_TOKEN = re.compile(r'^Token\s+token="?([^"\s]+)"?\s*$', re.IGNORECASE)
_BEARER = re.compile(r"^Bearer\s+(\S+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Principal:
    kind: Literal["integration", "api_key", "user"]
    id: str
    name: str
    scopes: frozenset[str]
    # None: every service.
    service_ids: frozenset[str] | None

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.id}"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    def require_scope(self, scope: str) -> None:
        if not self.has_scope(scope):
            raise ApiError(403, "MISSING_SCOPE", f"API key missing scope {scope}")

    def can_access(self, service_id: str) -> bool:
        return self.service_ids is None or service_id in self.service_ids


# What a signed-in person may do, by role: the API's scopes, so one check serves both.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "admin": frozenset({"admin"}),
    "responder": frozenset({"incidents:read", "incidents:write", "services:read", "events:write"}),
    "observer": frozenset({"incidents:read", "services:read"}),
}


def role_scopes(role: str) -> frozenset[str]:
    return ROLE_SCOPES.get(role, frozenset())


async def user_principal(engine: AsyncEngine, user_id: str) -> Principal | None:
    """The signed-in user as a principal, or None if the user is gone. Like a user's API
    key, a non-admin reaches only the services of their teams."""
    async with session_scope(engine) as session:
        user = await session.get(User, user_id)
        if user is None or user.password_hash is None:
            return None
        service_ids = None if user.role == "admin" else await team_service_ids(session, user.id)
    return act_as(
        Principal(
            kind="user",
            id=user.id,
            name=user.name,
            scopes=role_scopes(user.role),
            service_ids=service_ids,
        )
    )


UNAUTHORIZED = ApiError(401, "UNAUTHORIZED", "Missing or invalid API key")


async def authenticate(
    rt: Runtime, authorization: str | None, *, integration_keys: bool = False
) -> Principal:
    """An API key's principal; with ``integration_keys`` (the ingest path) an integration
    key's too."""
    if not authorization:
        raise UNAUTHORIZED
    if integration_keys and (match := _TOKEN.match(authorization)):
        return act_as(await _integration_principal(rt.config, match.group(1)))
    if match := _BEARER.match(authorization):
        hasher = ApiKeyHasher.from_settings(rt.settings)
        return act_as(await _api_key_principal(rt.engine, hasher, match.group(1)))
    raise UNAUTHORIZED


def act_as(principal: Principal) -> Principal:
    """The audit log records the changes made in the rest of this request as the
    principal's (models/audit.py), with the caller's X-Request-ID when it sent one."""
    acting_as(Actor(principal.actor, principal.name, request_ids.given()))
    return principal


async def _integration_principal(integrations: ConfigCache, key: str) -> Principal:
    integration = await integrations.integration(key, EVENTS_API)
    if integration is None:
        raise ApiError(403, "INVALID_INTEGRATION_KEY", "Integration key not found")
    return Principal(
        kind="integration",
        id=integration.id,
        name=integration.name,
        scopes=frozenset({"events:write"}),
        service_ids=frozenset({integration.service_id}),
    )


async def _api_key_principal(engine: AsyncEngine, hasher: ApiKeyHasher, key: str) -> Principal:
    async with session_scope(engine) as session:
        result = await session.exec(
            select(ApiKey).where(
                col(ApiKey.key_hash).in_(hasher.candidates(key)), col(ApiKey.revoked_at).is_(None)
            )
        )
        api_key = result.first()
        if api_key is None:
            raise UNAUTHORIZED
        if hasher.outdated(api_key.key_hash):  # stored unkeyed (older): keyed from now on
            api_key.key_hash = hasher.stored(key)
        scopes = frozenset(api_key.scopes)
        service_ids = None if api_key.service_ids is None else frozenset(api_key.service_ids)
        if api_key.user_id is not None:
            user = await session.get(User, api_key.user_id)
            if user is None or user.role != "admin":
                # A non-admin user's key reaches only its teams' services, whatever the key
                # says, and does no more than the user's role allows (the user may have
                # been demoted since): an observer's key only reads.
                scopes &= role_scopes(user.role) if user is not None else frozenset()
                teams = (
                    frozenset()
                    if user is None
                    else await team_service_ids(session, api_key.user_id)
                )
                service_ids = teams if service_ids is None else teams & service_ids
    return Principal(
        kind="api_key",
        id=api_key.id,
        name=api_key.name,
        scopes=scopes,
        service_ids=service_ids,
    )
