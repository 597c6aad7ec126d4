"""The id of each API request: the caller's ``X-Request-ID`` when it sent a printable one,
else a fresh one. Every log line of the request and its answer carry it; audit entries keep
only what the caller sent (docs/observability.md)."""

import uuid
from contextvars import ContextVar

from tocsin import logs

HEADER = "X-Request-ID"
_MAX_LENGTH = 200
_given: ContextVar[str | None] = ContextVar("tocsin_given_request_id", default=None)


def begin(given: str | None, incident_id: str | None = None) -> str:
    """Start the request's log context; the id its answer carries."""
    sent = given[:_MAX_LENGTH] if given else None
    _given.set(sent)
    request_id = sent if sent and sent.isprintable() else uuid.uuid4().hex
    logs.begin(request_id=request_id, incident_id=incident_id)
    return request_id


def given() -> str | None:
    """The ``X-Request-ID`` the caller sent (at most 200 characters), if any."""
    return _given.get()
