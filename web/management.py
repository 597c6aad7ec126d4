"""What every management route (users, teams, services, API keys) shares: authentication
with scopes, body parsing, service access, and mapping ``models.errors`` to API errors."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from quart import request

from models.errors import Conflict, InvalidValue, UnknownReference
from web.auth import Principal, authenticate
from web.errors import ApiError
from web.runtime import runtime

M = TypeVar("M", bound=BaseModel)


async def api_principal(*any_of: str) -> Principal:
    """The API key's principal, if it has one of the scopes (``admin`` has them all)."""
    principal = await authenticate(runtime(), request.headers.get("Authorization"))
    if not any(principal.has_scope(scope) for scope in any_of):
        raise ApiError(403, "MISSING_SCOPE", f"API key missing scope {' or '.join(any_of)}")
    return principal


def require_unrestricted(principal: Principal) -> None:
    """Users, teams and API keys decide who reaches which service, so a key limited to some
    services (including every non-admin user's key) must not change them."""
    if principal.service_ids is not None:
        raise ApiError(
            403, "RESTRICTED_KEY", "A key limited to some services cannot make this change"
        )


async def unrestricted_principal(scope: str) -> Principal:
    """A caller with ``scope`` whose key is not limited to some services (see
    :func:`require_unrestricted`)."""
    principal = await api_principal(scope)
    require_unrestricted(principal)
    return principal


def require_service_access(principal: Principal, service_id: str) -> None:
    if not principal.can_access(service_id):
        raise ApiError(403, "SERVICE_ACCESS_DENIED", "API key has no access to this service")


@contextmanager
def refusals_as_api_errors() -> Iterator[None]:
    """A refused configuration change becomes 400 INVALID_REQUEST or 409 CONFLICT naming
    the (camelCase) field."""
    try:
        yield
    except Conflict as err:
        raise ApiError(409, "CONFLICT", str(err), field=camel_field(err.field)) from err
    except (InvalidValue, UnknownReference) as err:
        field = camel_field(err.field)
        raise ApiError(
            400, "INVALID_REQUEST", f"Invalid request body: {field}: {err}", field=field
        ) from err


def camel_field(field: str) -> str:
    """``steps.0.delay_minutes`` → ``steps.0.delayMinutes``."""
    return ".".join(to_camel(part) for part in field.split("."))


def not_found(what: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{what} not found")
