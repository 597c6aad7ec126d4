"""Datadog monitor notifications (the Webhooks integration) to Tocsin events.

Datadog posts whatever payload template the user wrote, with ``$VARIABLES`` filled in, so
this parses the template docs/integrations.md recommends (one JSON field per variable).
Only ``alert_id`` and ``alert_transition`` are required; everything else improves the
alert when present.

One incident per monitor, or per group of a multi-alert monitor: the dedup key is the
monitor id plus the triggering scope. A delivery Datadog retries carries the same event id
($ID), which with the transition is the idempotency key.
"""

from datetime import UTC, datetime
from typing import Any

from web.integrations.config import AdapterConfig
from web.integrations.event import (
    MAX_DEDUP_KEY,
    Action,
    InboundEvent,
    InvalidPayload,
    alert_event,
    clip,
    stable_key,
)
from web.integrations.json_fields import is_web_url, scalar_text
from web.integrations.severity import lookup
from workflows.messages import Link, Severity


class Config(AdapterConfig):
    pass


# $ALERT_TRANSITION values (Datadog's Webhooks integration docs) and what each does.
# Null (listed by Datadog without an explanation) changes nothing.
TRIGGER = {"Triggered", "Re-Triggered", "Renotify"}
WARN = {"Warn", "Re-Warn", "No Data", "Re-No Data"}
RESOLVE = {"Recovered"}
IGNORE = {"Null"}
TRANSITIONS = TRIGGER | WARN | RESOLVE | IGNORE

CLIENT = "Datadog"
DEFAULT_SEVERITY: Severity = "error"


def parse(body: Any, config: Config) -> list[InboundEvent]:
    if not isinstance(body, dict):
        raise InvalidPayload(["body must be a JSON object (see the Datadog payload template)"])
    alert_id = scalar_text(body.get("alert_id"))
    transition = scalar_text(body.get("alert_transition"))
    errors = []
    if not alert_id:
        errors.append("alert_id: required (the monitor id, $ALERT_ID)")
    if not transition:
        errors.append("alert_transition: required ($ALERT_TRANSITION)")
    elif transition not in TRANSITIONS:
        errors.append(
            f"alert_transition: unknown value {transition[:40]!r}; "
            f"expected one of {', '.join(sorted(TRANSITIONS))}"
        )
    if errors:
        raise InvalidPayload(errors)
    if transition in IGNORE:
        return []
    scope = _scope(body.get("alert_scope"))
    dedup_key = _dedup_key(alert_id, scope)
    event_id = scalar_text(body.get("id"))
    idempotency_key = stable_key("datadog", event_id, transition) if event_id else None
    action: Action = "resolve" if transition in RESOLVE else "trigger"
    if action == "resolve":
        return [
            InboundEvent(action="resolve", dedup_key=dedup_key, idempotency_key=idempotency_key)
        ]
    severity = "warning" if transition in WARN else _severity(body)
    summary = clip(
        scalar_text(body.get("alert_title"))
        or scalar_text(body.get("event_title"))
        or f"Datadog monitor {alert_id}"
    )
    source = clip(scalar_text(body.get("hostname")) or scope or "datadog", 255)
    link = scalar_text(body.get("link"))
    links = [Link(href=link, text="View in Datadog")] if is_web_url(link) else []
    return [
        alert_event(
            "trigger",
            dedup_key,
            summary=summary,
            source=source,
            severity=severity,
            details=body,
            component=scalar_text(body.get("alert_metric")) or None,
            group=scope or None,
            class_=scalar_text(body.get("alert_type")) or None,
            timestamp=_timestamp(body.get("date")),
            links=links,
            client=CLIENT,
            client_url=link if links else None,
            idempotency_key=idempotency_key,
        )
    ]


def _severity(body: dict[str, Any]) -> Severity:
    """The monitor's priority (P1..P5) if set, else its alert type (error, warning, info)."""
    return lookup(body.get("alert_priority")) or lookup(body.get("alert_type")) or DEFAULT_SEVERITY


def _dedup_key(alert_id: str, scope: str) -> str:
    key = f"datadog:{alert_id}:{scope}" if scope else f"datadog:{alert_id}"
    return key if len(key) <= MAX_DEDUP_KEY else f"datadog:{stable_key(alert_id, scope)}"


def _scope(value: Any) -> str:
    """$ALERT_SCOPE as one canonical string (tags sorted), so the same group always gets
    the same key however Datadog orders its tags."""
    tags = {tag.strip() for tag in scalar_text(value).split(",")}
    return ",".join(sorted(tag for tag in tags if tag))


def _timestamp(value: Any) -> str | None:
    """$DATE is epoch milliseconds."""
    text = scalar_text(value)
    if not text.isdigit():
        return None
    try:
        return datetime.fromtimestamp(int(text) / 1000, UTC).isoformat()
    except (OverflowError, ValueError, OSError):
        return None
