"""PagerDuty's Events API bodies (v2 alert and change events, v1) in Tocsin's terms. Pure.

Every problem in a body is collected, so a 400 lists them all as PagerDuty's ``errors``
does. Fields a version ignores are ignored here too (Alertmanager's v1 body carries
``"payload": null`` and ``"event_action": ""``; its v2 resolve carries the whole payload),
and unknown fields are ignored as PagerDuty ignores them. Optional strings that are empty
count as absent: Alertmanager sends ``""`` for every link text and image alt it has not got.
"""

import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from web.integrations.event import (
    MAX_DEDUP_KEY,
    MAX_SUMMARY,
    InboundEvent,
    InvalidPayload,
    alert_event,
    incident_details,
    stable_key,
)
from web.text import storable
from workflows.messages import Image, Link, Severity

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES: tuple[Severity, ...] = ("critical", "error", "warning", "info")
# v1 has no severity; its triggers page as PagerDuty's own v1 → PD-CEF conversion does.
V1_SEVERITY: Severity = "error"

JSON_PARSE_ERROR = "JSON parse error"
INVALID_ROUTING_KEY = "Invalid routing key"
INVALID_SERVICE_KEY = "Invalid service_key"


@dataclass(frozen=True)
class AlertRequest:
    """A v2 alert event or v1 event: the integration key and the event for the workflow."""

    key: str
    event: InboundEvent


@dataclass(frozen=True)
class ChangeRequest:
    routing_key: str
    summary: str
    source: str | None
    # None: the change happened when it arrived.
    timestamp: datetime | None
    custom_details: dict[str, Any] | None
    links: list[Link] = field(default_factory=list)


def decode_body(raw: bytes) -> Any:
    """The body as JSON. NaN, Infinity and numbers too large for a double are refused like
    text PostgreSQL cannot store: JSONB has no place for them."""
    try:
        data = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, RecursionError) as err:
        raise InvalidPayload([JSON_PARSE_ERROR]) from err
    if not storable(data):
        raise InvalidPayload(["Event contains NUL characters or unpaired surrogates"])
    return data


def parse_alert(body: Any, new_key: Callable[[], str] = lambda: uuid.uuid4().hex) -> AlertRequest:
    """``POST /v2/enqueue``. A trigger without ``dedup_key`` gets ``new_key()``, as
    PagerDuty generates one and returns it."""
    check = _Check(quote=True)
    body = check.event_object(body)
    key = check.text(body, "routing_key", required=True)
    action = check.choice(body, "event_action", ACTIONS)
    dedup_key = check.text(
        body, "dedup_key", required=action in ("acknowledge", "resolve"), limit=MAX_DEDUP_KEY
    )
    trigger = _v2_trigger(check, body, dedup_key or new_key()) if action == "trigger" else None
    check.done()
    assert key is not None and action is not None
    if trigger is not None:
        if dedup_key is not None:
            # A client that retries after a 5xx or a timeout sends the same body again; the
            # same body for the same key is the same alert, not a second one (PagerDuty too
            # adds no alert for it). A changed field (e.g. payload.timestamp) is a new alert.
            content = stable_key("pagerduty-v2", body)
            trigger = trigger.model_copy(update={"idempotency_key": content})
        return AlertRequest(key, trigger)
    assert dedup_key is not None
    return AlertRequest(key, InboundEvent(action=action, dedup_key=dedup_key))


def _v2_trigger(check: "_Check", body: dict[str, Any], dedup_key: str) -> InboundEvent | None:
    """The trigger, or None when any field (of the whole body so far) failed."""
    payload, inner = check.payload(body)
    summary = inner.text(payload, "summary", "payload.summary", required=True, limit=MAX_SUMMARY)
    source = inner.text(payload, "source", "payload.source", required=True)
    severity = inner.choice(payload, "severity", SEVERITIES, "payload.severity")
    timestamp = inner.text(payload, "timestamp", "payload.timestamp")
    if timestamp is not None:
        inner.when(timestamp, "payload.timestamp")
    extras = {
        name: inner.text(payload, name, f"payload.{name}")
        for name in ("component", "group", "class")
    }
    details = payload.get("custom_details")
    links = check.links(body, "links")
    images = check.images(body, "images")
    client = check.text(body, "client")
    client_url = check.url(body, "client_url")
    if check.errors or summary is None or source is None or severity is None:
        return None
    return alert_event(
        "trigger",
        dedup_key,
        summary=summary,
        source=source,
        severity=severity,
        details=details,
        component=extras["component"],
        group=extras["group"],
        class_=extras["class"],
        timestamp=timestamp,
        links=links,
        images=images,
        client=client,
        client_url=client_url,
    )


def parse_change(body: Any) -> ChangeRequest:
    """``POST /v2/change/enqueue``. ``images`` are accepted and dropped: PagerDuty's change
    events support only ``links``."""
    check = _Check(quote=True)
    body = check.event_object(body)
    key = check.text(body, "routing_key", required=True)
    payload, inner = check.payload(body)
    summary = inner.text(payload, "summary", "payload.summary", required=True, limit=MAX_SUMMARY)
    source = inner.text(payload, "source", "payload.source")
    stamp = inner.text(payload, "timestamp", "payload.timestamp")
    when = inner.when(stamp, "payload.timestamp") if stamp is not None else None
    links = check.links(body, "links")
    check.done()
    assert key is not None and summary is not None
    return ChangeRequest(
        key, summary, source, when, incident_details(payload.get("custom_details")), links
    )


def parse_v1(body: Any, new_key: Callable[[], str] = lambda: uuid.uuid4().hex) -> AlertRequest:
    """``POST /generic/2010-04-15/create_event.json``: ``description`` is the summary,
    ``details`` the custom details, ``contexts`` the links and images; the source is the
    client (PagerDuty's v1 has no source) and the severity ``error``."""
    check = _Check(quote=False)
    body = check.event_object(body)
    key = check.text(body, "service_key", required=True)
    action = check.choice(body, "event_type", ACTIONS)
    dedup_key = check.text(
        body, "incident_key", required=action in ("acknowledge", "resolve"), limit=MAX_DEDUP_KEY
    )
    event: InboundEvent | None = None
    if action == "trigger":
        summary = check.text(body, "description", required=True, limit=MAX_SUMMARY)
        details = body.get("details")
        client = check.text(body, "client")
        client_url = check.url(body, "client_url")
        links, images = check.contexts(body, "contexts")
        if not check.errors:
            assert summary is not None
            event = alert_event(
                "trigger",
                dedup_key or new_key(),
                summary=summary,
                source=client or "",
                severity=V1_SEVERITY,
                details=details,
                links=links,
                images=images,
                client=client,
                client_url=client_url,
            )
    check.done()
    assert key is not None and action is not None
    if event is None:
        assert dedup_key is not None
        event = InboundEvent(action=action, dedup_key=dedup_key)
    return AlertRequest(key, event)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


class _Check:
    """Reads fields and collects PagerDuty-style messages for the ones that do not fit.
    ``quote``: v2 quotes field names ('payload.summary'), v1 does not."""

    def __init__(self, *, quote: bool) -> None:
        self.errors: list[str] = []
        self._quote = quote

    def done(self) -> None:
        if self.errors:
            raise InvalidPayload(self.errors)

    def _name(self, path: str) -> str:
        return f"'{path}'" if self._quote else path

    def _fail(self, message: str) -> None:
        self.errors.append(message)

    def event_object(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise InvalidPayload(["Event object must be a JSON object"])
        return body

    def text(
        self,
        obj: dict[str, Any],
        key: str,
        path: str | None = None,
        *,
        required: bool = False,
        limit: int | None = None,
    ) -> str | None:
        """A string field; blank counts as missing, and as absent when optional."""
        name = self._name(path or key)
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            self._fail(f"{name} must be a string")
            return None
        if value is None or not value.strip():
            if required:
                self._fail(f"{name} is missing or blank")
            return None
        if limit is not None and len(value) > limit:
            self._fail(f"Length of {name} is too long (maximum is {limit} characters)")
            return None
        return value

    def choice(
        self, obj: dict[str, Any], key: str, options: tuple[str, ...], path: str | None = None
    ) -> Any:
        name = self._name(path or key)
        value = obj.get(key)
        if value is None or value == "":
            self._fail(f"{name} is missing or blank")
            return None
        if value not in options:
            self._fail(f"{name} is invalid (must be one of: {' '.join(options)})")
            return None
        return value

    def object(
        self, obj: dict[str, Any], key: str, path: str | None = None, *, required: bool = False
    ) -> dict[str, Any] | None:
        name = self._name(path or key)
        value = obj.get(key)
        if value is None:
            if required:
                self._fail(f"{name} is missing or blank")
            return None
        if not isinstance(value, dict):
            self._fail(f"{name} must be an object")
            return None
        return value

    def payload(self, body: dict[str, Any]) -> tuple[dict[str, Any], "_Check"]:
        """The required ``payload`` object and the checker for its fields: a detached one
        when it is missing or not an object, so its fields are not reported again."""
        payload = self.object(body, "payload", required=True)
        if payload is None:
            return {}, _Check(quote=self._quote)
        return payload, self

    def _array(self, obj: dict[str, Any], key: str) -> list[Any]:
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self._fail(f"{self._name(key)} must be an array")
            return []
        return value

    def when(self, text: str, path: str) -> datetime | None:
        """An ISO 8601 timestamp, in UTC (without an offset it is taken as UTC)."""
        try:
            parsed = datetime.fromisoformat(text)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
        except (ValueError, OverflowError):
            self._fail(f"{self._name(path)} is invalid (must be an ISO 8601 timestamp)")
            return None

    def url(
        self,
        obj: dict[str, Any],
        key: str,
        path: str | None = None,
        *,
        https_only: bool = False,
        required: bool = False,
    ) -> str | None:
        """An absolute web URL. Other schemes (``javascript:``) would be links in a page."""
        value = self.text(obj, key, path, required=required)
        schemes = ("https://",) if https_only else ("https://", "http://")
        if value is not None and not value.lower().startswith(schemes):
            scheme = "an https" if https_only else "an http or https"
            self._fail(f"{self._name(path or key)} must be {scheme} URL")
            return None
        return value

    def links(self, obj: dict[str, Any], key: str) -> list[Link]:
        links = []
        for index, item in enumerate(self._array(obj, key)):
            path = f"{key}[{index}]"
            if not isinstance(item, dict):
                self._fail(f"{self._name(path)} must be an object")
                continue
            href = self.url(item, "href", f"{path}.href", required=True)
            text = self.text(item, "text", f"{path}.text")
            if href is not None:
                links.append(Link(href=href, text=text))
        return links

    def images(self, obj: dict[str, Any], key: str) -> list[Image]:
        images = []
        for index, item in enumerate(self._array(obj, key)):
            path = f"{key}[{index}]"
            if not isinstance(item, dict):
                self._fail(f"{self._name(path)} must be an object")
                continue
            image = self._image(item, path)
            if image is not None:
                images.append(image)
        return images

    def _image(self, item: dict[str, Any], path: str) -> Image | None:
        src = self.url(item, "src", f"{path}.src", https_only=True, required=True)
        href = self.url(item, "href", f"{path}.href")
        alt = self.text(item, "alt", f"{path}.alt")
        return None if src is None else Image(src=src, href=href, alt=alt)

    def contexts(self, obj: dict[str, Any], key: str) -> tuple[list[Link], list[Image]]:
        """v1 ``contexts``: ``{"type": "link", href, text}`` or ``{"type": "image", src,
        href, alt}``."""
        links: list[Link] = []
        images: list[Image] = []
        for index, item in enumerate(self._array(obj, key)):
            path = f"{key}[{index}]"
            if not isinstance(item, dict):
                self._fail(f"{self._name(path)} must be an object")
                continue
            kind = self.choice(item, "type", ("link", "image"), f"{path}.type")
            if kind == "link":
                href = self.url(item, "href", f"{path}.href", required=True)
                text = self.text(item, "text", f"{path}.text")
                if href is not None:
                    links.append(Link(href=href, text=text))
            elif kind == "image":
                image = self._image(item, path)
                if image is not None:
                    images.append(image)
        return links, images
