"""The event endpoints answered as plain ASGI, ahead of Quart: ``POST /api/events`` and
PagerDuty's ``/v2/enqueue`` and v1 ``create_event.json``.

In an alert storm the API process is what limits Tocsin, and Quart's per-request machinery
(request context, werkzeug headers, routing, hooks, the Response object) took about two
fifths of its time per event (docs/benchmarks.md). This path does only what the endpoint
needs, with the parts the Quart routes use too: the request id, authentication, body
parsing, the error bodies and their mapping, security headers and the ingest metrics.
Every other request, these paths with any other method included, goes on to Quart, whose
routes for them document them in the OpenAPI document.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel
from quart import Quart
from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout

from tocsin.settings import Settings
from web import events, pagerduty, request_ids
from web.bodies import MAX_BODY_BYTES
from web.errors import UNSTORABLE_URL, ErrorAnswer
from web.metrics import count_ingest
from web.runtime import Runtime
from web.security_headers import published_https, security_headers
from web.text import storable

# As long as Quart waits for a request's body (its BODY_TIMEOUT default).
BODY_TIMEOUT_SECONDS = 60.0

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


@dataclass(frozen=True)
class Route:
    endpoint: str  # its name in the metrics: Quart's name of the documenting route
    answer: Callable[[Runtime, Mapping[str, str], bytes], Awaitable[BaseModel]]
    status: int
    # The errors it answers in a shape of its own (None: as the rest of the API).
    own_error: Callable[[Exception], ErrorAnswer | None] = lambda _: None


ROUTES = {
    "/api/events": Route(events.ENDPOINT, events.answer_event, 202),
    "/v2/enqueue": Route(
        pagerduty.ENQUEUE, pagerduty.answer_enqueue, 202, pagerduty.pagerduty_error
    ),
    "/generic/2010-04-15/create_event.json": Route(
        pagerduty.CREATE_EVENT_V1, pagerduty.answer_v1, 200, pagerduty.pagerduty_error
    ),
}


class _Disconnected(Exception):
    """The client went away before its body arrived: nothing to answer."""


class IngestRoutes:
    """The Quart app's ASGI callable: ``ROUTES`` answered here, the rest by Quart."""

    def __init__(self, app: Quart, settings: Settings) -> None:
        self._app = app
        self._quart: ASGIApp = app.asgi_app
        self._published_https = published_https(settings)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        route = ROUTES.get(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "POST":
            await self._quart(scope, receive, send)
            return
        started = time.perf_counter()
        headers = _headers(scope)
        request_id = request_ids.begin(headers.get("x-request-id"))
        status = route.status
        extra: Mapping[str, str] = {}
        try:
            # Missing until the app has started serving (an internal error, as in Quart).
            rt: Runtime = self._app.extensions["tocsin"]
            if scope["query_string"] and not storable(_query_values(scope["query_string"])):
                raise UNSTORABLE_URL
            answer = await route.answer(rt, headers, await _body(headers, receive))
            body = answer.model_dump_json(by_alias=True).encode()
        except _Disconnected:
            return
        except Exception as err:  # every failure is answered as the Quart routes answer it
            error = route.own_error(err) or ErrorAnswer.of(err)
            status, body, extra = error.status, error.body, error.headers
        answer_headers = {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            request_ids.HEADER: request_id,
            **security_headers(self._published_https, route.endpoint, scope.get("scheme", "http")),
            **extra,
        }
        elapsed = time.perf_counter() - started
        count_ingest(route.endpoint, status, "Retry-After" in extra, elapsed)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode("latin-1")) for k, v in answer_headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _headers(scope: Any) -> dict[str, str]:
    """The request's headers by lower-case name (the first of repeated ones, as werkzeug)."""
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return headers


def _query_values(query_string: bytes) -> list[str]:
    """The query's values as werkzeug decodes them (UTF-8, undecodable bytes replaced)."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, errors="replace")
    return [value for pair in pairs for value in pair]


async def _body(headers: Mapping[str, str], receive: Any) -> bytes:
    """The whole body: 413 beyond ``MAX_BODY_BYTES`` (declared or sent), 408 if it takes
    longer than ``BODY_TIMEOUT_SECONDS``."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BODY_TIMEOUT_SECONDS):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _Disconnected
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise RequestEntityTooLarge()
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError as err:
        raise RequestTimeout() from err
