"""The one exception type for API errors and the one place that renders them.

Every error body is ``{"error": {"code", "message"}}`` (plus ``field`` for validation
errors); codes are stable and documented in docs/api.md. Nothing below web/ knows about HTTP.
"""

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError
from quart import Quart, Response, jsonify
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


def _render(error: ApiError) -> Response:
    response = jsonify(error.body())
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def register_error_handlers(app: Quart) -> None:
    @app.errorhandler(ApiError)
    async def api_error(error: ApiError) -> Response:
        return _render(error)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = _HTTP_CODES.get(status, "HTTP_ERROR")
        return _render(ApiError(status, code, error.description or error.name))

    @app.errorhandler(RPCError)
    async def temporal_error(error: RPCError) -> Response:
        if error.status in _TEMPORAL_UNREACHABLE:
            log.warning("Temporal unreachable: %s", error)
            return _render(TEMPORAL_UNAVAILABLE)
        log.exception("unhandled Temporal error")
        return _render(ApiError(500, "INTERNAL", "Internal server error"))

    @app.errorhandler(WorkerUnavailable)
    async def worker_unavailable(error: WorkerUnavailable) -> Response:
        log.warning("incident update not applied in time: %s", error)
        return _render(WORKER_UNAVAILABLE)

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return _render(ApiError(500, "INTERNAL", "Internal server error"))


def error_responses(*statuses: int) -> Callable[[T], T]:
    """Document that a route may answer these statuses with the standard error body."""

    def decorate(func: T) -> T:
        for status in statuses:
            func = document_response(ErrorResponse, status)(func)
        return func

    return decorate
