"""PagerDuty's Events API on Tocsin: anything that pages PagerDuty pages Tocsin by changing
the host name.

- ``POST /v2/enqueue`` (v2 alert events), ``POST /v2/change/enqueue`` (change events) and
  ``POST /generic/2010-04-15/create_event.json`` (v1), answered with PagerDuty's bodies and
  statuses, not Tocsin's ``{"error": ...}``: clients such as Alertmanager parse them.
- The key is in the body (``routing_key``, v1 ``service_key``): an integration of type
  ``events``. Unknown or revoked keys are a 400 ``invalid event``, as PagerDuty answers.
- Alert events go through ``web.ingest.submit`` like ``/api/events``; change events are
  stored directly (they are context, never incident state, and never notify).
- Throttled: 429 (v1: 403, which is what v1 clients retry on) with ``Retry-After``.
- The alert endpoints are answered ahead of Quart by web/ingest_asgi.py, as ``/api/events``
  (their routes here document them); change events are not a hot path and stay on Quart.
"""

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from quart import Blueprint, Response, request
from quart_schema import document_request, document_response, tag
from werkzeug.exceptions import RequestEntityTooLarge

from models import ChangeEvent, Integration
from models.change_events import record_change_event
from models.columns import utcnow
from models.db import session_scope
from tocsin.keys import new_id
from web.bodies import json_answer
from web.errors import ErrorAnswer
from web.ingest import submit
from web.integrations.event import InvalidPayload
from web.integrations.registry import EVENTS_API
from web.pagerduty_parse import (
    INVALID_ROUTING_KEY,
    INVALID_SERVICE_KEY,
    AlertRequest,
    decode_body,
    parse_alert,
    parse_change,
    parse_v1,
)
from web.pagerduty_schemas import (
    PdAccepted,
    PdChangeAccepted,
    PdChangeEvent,
    PdEvent,
    PdRefused,
    PdV1Accepted,
    PdV1Event,
)
from web.runtime import Runtime, runtime

blueprint = Blueprint("pagerduty", __name__)
# The metrics' names of the alert endpoints (Quart's names of their routes below).
ENQUEUE = "pagerduty.enqueue"
CREATE_EVENT_V1 = "pagerduty.create_event_v1"

T = TypeVar("T")

INVALID = "invalid event"
INVALID_MESSAGE = "Event object is invalid"
THROTTLED = PdRefused(
    status="throttle event",
    message="Requests for this service are arriving too quickly. Please retry later.",
)


class PdRefusal(Exception):
    """An answer in PagerDuty's error shape (this blueprint's routes only)."""

    def __init__(self, status: int, body: PdRefused, headers: dict[str, str] | None = None) -> None:
        super().__init__(body.message)
        self.status = status
        self.body = body
        self.headers = headers or {}

    @classmethod
    def invalid(cls, errors: list[str]) -> "PdRefusal":
        return cls(400, PdRefused(status=INVALID, message=INVALID_MESSAGE, errors=errors))


# PagerDuty's events are limited to 512 KB (web.bodies.MAX_BODY_BYTES).
TOO_LARGE = PdRefused(status=INVALID, message=INVALID_MESSAGE, errors=["Event exceeds 512 KB"])


def pagerduty_error(error: Exception) -> ErrorAnswer | None:
    """The answer in PagerDuty's shape to ``error``, if it is one PagerDuty's API answers;
    anything else is answered as the rest of the API answers it."""
    if isinstance(error, RequestEntityTooLarge):
        error = PdRefusal(413, TOO_LARGE)
    if not isinstance(error, PdRefusal):
        return None
    body = json.dumps(error.body.model_dump(exclude_unset=True), separators=(",", ":"))
    return ErrorAnswer(error.status, body.encode(), error.headers)


@blueprint.errorhandler(PdRefusal)
@blueprint.errorhandler(RequestEntityTooLarge)
async def refused(error: Exception) -> Response:
    answer = pagerduty_error(error)
    assert answer is not None
    return answer.response()


@blueprint.post("/v2/enqueue")
@tag(["pagerduty"])
@document_request(PdEvent)
@document_response(PdAccepted, 202)
@document_response(PdRefused, 400)
@document_response(PdRefused, 413)
@document_response(PdRefused, 429)
async def enqueue() -> Response:
    """PagerDuty Events API v2: trigger, acknowledge or resolve an alert.

    No Authorization header: ``routing_key`` in the body is an integration key. A trigger
    without ``dedup_key`` gets a generated one, returned in the answer. Acknowledging or
    resolving a key with no open incident is accepted and changes nothing, as in PagerDuty.
    """
    raise RuntimeError("POST /v2/enqueue is answered by web.ingest_asgi")


async def answer_enqueue(rt: Runtime, headers: Mapping[str, str], body: bytes) -> PdAccepted:
    """The answer to one ``POST /v2/enqueue`` (``headers``: lower-case names)."""
    alert = _parsed(parse_alert, body)
    integration = await _integration(rt, alert.key, INVALID_ROUTING_KEY, throttled_status=429)
    await _submit(rt, integration, alert, headers)
    return PdAccepted(dedup_key=alert.event.dedup_key)


@blueprint.post("/v2/change/enqueue")
@tag(["pagerduty"])
@document_request(PdChangeEvent)
@document_response(PdChangeAccepted, 202)
@document_response(PdRefused, 400)
@document_response(PdRefused, 413)
@document_response(PdRefused, 429)
async def change_enqueue() -> Response:
    """PagerDuty change event (a deploy, a config change): stored on the service for 90 days
    and shown on incidents opened within the hour after it. Never notifies."""
    rt = runtime()
    raw = await request.get_data(as_text=False)
    assert isinstance(raw, bytes)
    change = _parsed(parse_change, raw)
    integration = await _integration(
        rt, change.routing_key, INVALID_ROUTING_KEY, throttled_status=429
    )
    now = utcnow()
    row = ChangeEvent(
        id=new_id("chg"),
        service_id=integration.service_id,
        integration_id=integration.id,
        summary=change.summary,
        source=change.source,
        timestamp=change.timestamp or now,
        custom_details=change.custom_details,
        links=[link.model_dump(exclude_none=True) for link in change.links],
        received_at=now,
    )
    async with session_scope(rt.engine) as session:
        await record_change_event(session, row)
    return json_answer(PdChangeAccepted(), 202)


@blueprint.post("/generic/2010-04-15/create_event.json")
@tag(["pagerduty"])
@document_request(PdV1Event)
@document_response(PdV1Accepted, 200)
@document_response(PdRefused, 400)
@document_response(PdRefused, 403)
@document_response(PdRefused, 413)
async def create_event_v1() -> Response:
    """PagerDuty Events API v1 (legacy; Alertmanager's ``service_key``): ``incident_key``
    is the dedup key, ``description`` the summary; triggers have severity ``error``.
    Throttled requests get 403, as PagerDuty's v1 answers and v1 clients retry."""
    raise RuntimeError("POST /generic/2010-04-15/create_event.json is answered by web.ingest_asgi")


async def answer_v1(rt: Runtime, headers: Mapping[str, str], body: bytes) -> PdV1Accepted:
    """The answer to one v1 ``create_event.json`` (``headers``: lower-case names)."""
    alert = _parsed(parse_v1, body)
    integration = await _integration(rt, alert.key, INVALID_SERVICE_KEY, throttled_status=403)
    await _submit(rt, integration, alert, headers)
    return PdV1Accepted(incident_key=alert.event.dedup_key)


def _parsed(parse: Callable[[Any], T], raw: bytes) -> T:
    try:
        return parse(decode_body(raw))
    except InvalidPayload as err:
        raise PdRefusal.invalid(err.errors) from err


async def _integration(
    rt: Runtime, key: str, unknown: str, *, throttled_status: int
) -> Integration:
    """The enabled ``events`` integration with this key, within its rate limit."""
    integration = await rt.config.integration(key, EVENTS_API)
    if integration is None:
        raise PdRefusal.invalid([unknown])
    retry_after = await rt.limiter.acquire(f"integration:{integration.id}")
    if retry_after is not None:
        raise PdRefusal(throttled_status, THROTTLED, {"Retry-After": str(retry_after)})
    return integration


async def _submit(
    rt: Runtime, integration: Integration, alert: AlertRequest, headers: Mapping[str, str]
) -> None:
    await submit(
        rt,
        integration.service_id,
        f"integration:{integration.id}",
        alert.event,
        idempotency_key=headers.get("idempotency-key") or None,
    )
