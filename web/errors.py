"""The one exception type for API errors and the one place that renders them.

Every error body is ``{"error": {"code", "message"}}`` (plus ``field`` for validation
errors); codes are stable and documented in docs/api.md. Nothing below web/ knows about HTTP.
"""

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError
from quart import Quart, Response
from quart_schema import document_response
from temporalio.service import RPCError, RPCStatusCode
from werkzeug.exceptions import HTTPException

from web.commands import WorkerUnavailable
from web.schemas import ErrorResponse

log = logging.getLogger("tocsin.web")

T = TypeVar("T", bound=Callable[..., Any])


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


def invalid_request(err: ValidationError, prefix: str = "") -> ApiError:
    """A 400 naming the first failing field, e.g. ``payload.severity``."""
    first = err.errors()[0]
    field = ".".join(str(part) for part in (prefix, *first["loc"]) if part != "")
    message = f"{field}: {first['msg']}" if field else first["msg"]
    return ApiError(400, "INVALID_REQUEST", f"Invalid request body: {message}", field=field)


_HTTP_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


# Temporal down or too slow: nothing was accepted, so the sender should retry (a 5xx makes
# PagerDuty clients and Alertmanager do so).
_TEMPORAL_UNREACHABLE = frozenset({RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED})
TEMPORAL_UNAVAILABLE = ApiError(
    503,
    "TEMPORAL_UNAVAILABLE",
    "The workflow engine is unreachable; nothing was accepted, retry later.",
    headers={"Retry-After": "5"},
)


WORKER_UNAVAILABLE = ApiError(
    503,
    "WORKER_UNAVAILABLE",
    "No worker applied the change in time; it may still apply when a worker is back.",
    headers={"Retry-After": "30"},
)


INTERNAL = ApiError(500, "INTERNAL", "Internal server error")
UNSTORABLE_URL = ApiError(
    400, "INVALID_REQUEST", "URL contains NUL characters or unpaired surrogates"
)


def api_error_for(error: Exception) -> ApiError:
    """What the API answers for ``error`` raised while handling a request; what the caller
    cannot fix is logged here."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, HTTPException):
        status = error.code or 500
        message = error.description or error.name
        return ApiError(status, _HTTP_CODES.get(status, "HTTP_ERROR"), message)
    if isinstance(error, RPCError) and error.status in _TEMPORAL_UNREACHABLE:
        log.warning("Temporal unreachable: %s", error)
        return TEMPORAL_UNAVAILABLE
    if isinstance(error, WorkerUnavailable):
        log.warning("incident update not applied in time: %s", error)
        return WORKER_UNAVAILABLE
    log.exception("unhandled error", exc_info=error)
    return INTERNAL


def error_json(error: ApiError) -> bytes:
    """The error body every API error answer carries."""
    return json.dumps(error.body(), separators=(",", ":")).encode()


@dataclass(frozen=True)
class ErrorAnswer:
    """An error answer: its status, JSON body and extra headers."""

    status: int
    body: bytes
    headers: Mapping[str, str]

    @classmethod
    def of(cls, error: Exception) -> "ErrorAnswer":
        """The API's answer to ``error`` (``api_error_for``)."""
        api_error = api_error_for(error)
        return cls(api_error.status, error_json(api_error), api_error.headers)

    def response(self) -> Response:
        response = Response(self.body, self.status, content_type="application/json")
        response.headers.update(self.headers)
        return response


def register_error_handlers(app: Quart) -> None:
    """Every exception a view raises, HTTP's own (404, 405, 413) included, answered as
    ``api_error_for`` says."""

    @app.errorhandler(Exception)
    async def api_error(error: Exception) -> Response:
        return ErrorAnswer.of(error).response()


def error_responses(*statuses: int) -> Callable[[T], T]:
    """Document that a route may answer these statuses with the standard error body."""

    def decorate(func: T) -> T:
        for status in statuses:
            func = document_response(ErrorResponse, status)(func)
        return func

    return decorate
