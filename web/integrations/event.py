"""What every adapter produces: an event in Tocsin's terms, still independent of HTTP."""

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from workflows.messages import Image, Link, Severity

Action = Literal["trigger", "acknowledge", "resolve"]

MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255


class InboundEvent(BaseModel):
    action: Action
    dedup_key: str = Field(min_length=1, max_length=MAX_DEDUP_KEY)
    # The trigger fields; ignored for acknowledge and resolve.
    summary: str = ""
    source: str = ""
    severity: Severity = "warning"
    custom_details: dict[str, Any] | None = None
    # Stored as the alert's payload: PagerDuty's payload shape (summary, source, severity,
    # custom_details, component, group, class, timestamp), so suppression rules and readers
    # see every sender the same way. Build trigger events with ``alert_event``.
    payload: dict[str, Any] = Field(default_factory=dict)
    links: list[Link] = Field(default_factory=list)
    images: list[Image] = Field(default_factory=list)
    client: str | None = None
    client_url: str | None = None
    # The same for the same notification delivered twice (Alertmanager HA pairs, retries
    # after a timeout), so the repeat changes nothing.
    idempotency_key: str | None = None


class InvalidPayload(Exception):
    """The body does not fit the sender's format; ``errors`` name the fields."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def clip(text: str, limit: int = MAX_SUMMARY) -> str:
    """Senders' texts are cut to fit rather than refused: a long annotation must still page."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def stable_key(*parts: Any) -> str:
    """A short digest of ``parts``: dedup and idempotency keys from a sender's identifiers
    that may be long or contain anything."""
    raw = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def alert_event(
    action: Action,
    dedup_key: str,
    *,
    summary: str,
    source: str,
    severity: Severity,
    details: Any = None,
    component: str | None = None,
    group: str | None = None,
    class_: str | None = None,
    timestamp: str | None = None,
    **attachments: Any,
) -> InboundEvent:
    """An event whose stored payload is PagerDuty's payload of the same fields, so each
    adapter states every field once. ``details`` may be any JSON; the incident shows a
    non-object as ``{"details": ...}``, the payload keeps it as sent. ``attachments``:
    links, images, client, client_url, idempotency_key."""
    fields = {
        "summary": summary,
        "source": source,
        "severity": severity,
        "custom_details": details,
        "component": component,
        "group": group,
        "class": class_,
        "timestamp": timestamp,
    }
    return InboundEvent(
        action=action,
        dedup_key=dedup_key,
        summary=summary,
        source=source,
        severity=severity,
        custom_details=incident_details(details),
        payload={k: v for k, v in fields.items() if v is not None},
        **attachments,
    )


def incident_details(value: Any) -> dict[str, Any] | None:
    """Custom details as the incident keeps them: an object as is, anything else (PagerDuty
    accepts a string too) under ``details``."""
    if value is None or isinstance(value, dict):
        return value
    return {"details": value}
