"""Sentry integration-platform webhooks (an internal integration) to Tocsin events.

Sentry names the resource a delivery is about in the ``Sentry-Hook-Resource`` header, not
in the body, so ``envelope`` puts the two together (``{"resource", "body"}``) and ``parse``
stays a pure function of that. Resources handled: ``issue`` (issue webhooks),
``event_alert`` (an issue alert rule's action) and ``metric_alert`` (a metric alert rule's
action); the others Sentry sends (installation, comment, error, …) are accepted and ignored.

An issue and the issue alerts fired for it share one incident (key: the issue id), so a
resolve from the issue webhook closes what an alert rule opened.
"""

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from tocsin.settings import Settings
from web.integrations.config import AdapterConfig
from web.integrations.event import (
    MAX_DEDUP_KEY,
    InboundEvent,
    InvalidPayload,
    alert_event,
    clip,
    stable_key,
)
from web.integrations.json_fields import scalar_text, web_url
from web.integrations.severity import severity_from
from workflows.messages import Link, Severity

CLIENT = "Sentry"


class Config(AdapterConfig):
    pass


def verify(
    headers: Mapping[str, str], body: bytes, secret: str, config: Config | None = None
) -> bool:
    """``Sentry-Hook-Signature``: hex HMAC-SHA256 of the raw body keyed with the
    integration's client secret (Sentry's ``SentryApp.build_signature``)."""
    signature = headers.get("sentry-hook-signature", "").strip().lower()
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return bool(signature) and hmac.compare_digest(signature.encode(), expected.encode())


async def envelope(headers: Mapping[str, str], body: Any, settings: Settings) -> dict[str, Any]:
    """The resource header joined to the body; no I/O."""
    return {"resource": headers.get("sentry-hook-resource"), "body": body}


def parse(body: Any, config: Config) -> list[InboundEvent]:
    if not isinstance(body, dict) or not isinstance(body.get("body"), dict):
        raise InvalidPayload(["body must be a JSON object"])
    resource = body.get("resource")
    if not isinstance(resource, str) or not resource:
        raise InvalidPayload(["the Sentry-Hook-Resource header is missing"])
    payload: dict[str, Any] = body["body"]
    handler = _HANDLERS.get(resource)
    if handler is None:
        return []  # installation, comment, error, …: Sentry sends them too; nothing to page
    action = payload.get("action")
    data = payload.get("data")
    if not isinstance(action, str) or not isinstance(data, dict):
        raise InvalidPayload([f"{resource}: action (a string) and data (an object) are required"])
    return handler(action, data)


# --- issue ------------------------------------------------------------------------------

ISSUE_TRIGGER = {"created", "unresolved"}
ISSUE_RESOLVE = {"resolved"}
# Sentry renamed "ignored" to "archived"; both mean someone decided to live with it.
ISSUE_ACKNOWLEDGE = {"archived", "ignored"}


def _issue(action: str, data: dict[str, Any]) -> list[InboundEvent]:
    if action not in ISSUE_TRIGGER | ISSUE_RESOLVE | ISSUE_ACKNOWLEDGE:
        return []  # assigned and whatever Sentry adds later
    issue = _object(data, "issue")
    key = _issue_key(issue.get("id"), "issue.id")
    if action in ISSUE_RESOLVE:
        return [InboundEvent(action="resolve", dedup_key=key)]
    if action in ISSUE_ACKNOWLEDGE:
        return [InboundEvent(action="acknowledge", dedup_key=key)]
    url = web_url(issue.get("web_url")) or web_url(issue.get("permalink"))
    project = _dict(issue.get("project"))
    metadata = _dict(issue.get("metadata"))
    issue_name = scalar_text(issue.get("shortId")) or scalar_text(issue.get("id"))
    return [
        _trigger(
            key,
            summary=scalar_text(issue.get("title")) or f"Sentry issue {issue_name}",
            source=scalar_text(project.get("slug")) or scalar_text(project.get("name")),
            severity=severity_from(issue.get("level")),
            details=issue,
            url=url,
            component=scalar_text(issue.get("culprit")),
            class_=scalar_text(metadata.get("type")),
            timestamp=scalar_text(issue.get("lastSeen")),
            # Created happens once per issue; later actions (a regression) must not dedupe.
            idempotency_key=stable_key("sentry-issue", key) if action == "created" else None,
        )
    ]


# --- event_alert (issue alert rules) ----------------------------------------------------


def _event_alert(action: str, data: dict[str, Any]) -> list[InboundEvent]:
    if action != "triggered":
        return []
    event = _object(data, "event")
    key = _issue_key(event.get("issue_id"), "event.issue_id")
    rule = scalar_text(data.get("triggered_rule"))
    event_id = scalar_text(event.get("event_id"))
    title = (
        scalar_text(event.get("title")) or scalar_text(event.get("message")) or "Sentry issue alert"
    )
    return [
        _trigger(
            key,
            summary=title,
            source=scalar_text(event.get("project")) or scalar_text(event.get("location")),
            severity=severity_from(event.get("level")),
            details={"triggered_rule": rule, "event": event},
            url=web_url(event.get("web_url")),
            component=scalar_text(event.get("culprit")),
            class_=rule,
            timestamp=scalar_text(event.get("datetime")),
            idempotency_key=stable_key("sentry-event", event_id, rule) if event_id else None,
        )
    ]


# --- metric_alert -----------------------------------------------------------------------

METRIC_SEVERITY: dict[str, Severity] = {"critical": "critical", "warning": "warning"}


def _metric_alert(action: str, data: dict[str, Any]) -> list[InboundEvent]:
    if action not in METRIC_SEVERITY and action != "resolved":
        return []
    alert = _object(data, "metric_alert")
    alert_id = scalar_text(alert.get("id"))
    if not alert_id:
        raise InvalidPayload(["metric_alert.id: required"])
    key = _key("metric_alert", alert_id)
    if action == "resolved":
        return [InboundEvent(action="resolve", dedup_key=key)]
    rule = _dict(alert.get("alert_rule"))
    title = scalar_text(data.get("description_title")) or scalar_text(rule.get("name"))
    projects = rule.get("projects")
    projects = projects if isinstance(projects, list) else []
    return [
        _trigger(
            key,
            summary=title or f"Sentry metric alert {alert_id}",
            source=",".join(p for p in projects if isinstance(p, str)),
            severity=METRIC_SEVERITY[action],
            details={
                "description": scalar_text(data.get("description_text")),
                "metric_alert": alert,
            },
            url=web_url(data.get("web_url")),
            component=scalar_text(rule.get("aggregate")),
            class_=scalar_text(rule.get("dataset")),
            timestamp=scalar_text(alert.get("date_detected")),
            idempotency_key=None,  # critical → warning → critical again is a real change
        )
    ]


_HANDLERS = {"issue": _issue, "event_alert": _event_alert, "metric_alert": _metric_alert}


# --- helpers ----------------------------------------------------------------------------


def _trigger(
    key: str,
    *,
    summary: str,
    source: str,
    severity: Severity,
    details: dict[str, Any],
    url: str | None,
    component: str,
    class_: str,
    timestamp: str,
    idempotency_key: str | None,
) -> InboundEvent:
    summary = clip(summary)
    source = clip(source or "sentry", 255)
    return alert_event(
        "trigger",
        key,
        summary=summary,
        source=source,
        severity=severity,
        details=details,
        component=component or None,
        class_=class_ or None,
        timestamp=timestamp or None,
        links=[Link(href=url, text="View in Sentry")] if url else [],
        client=CLIENT,
        client_url=url,
        idempotency_key=idempotency_key,
    )


def _object(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise InvalidPayload([f"data.{name}: required (an object)"])
    return value


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _issue_key(issue_id: Any, field: str) -> str:
    text = scalar_text(issue_id)
    if not text:
        raise InvalidPayload([f"{field}: required"])
    return _key("issue", text)


def _key(kind: str, ident: str) -> str:
    key = f"sentry:{kind}:{ident}"
    return key if len(key) <= MAX_DEDUP_KEY else f"sentry:{kind}:{stable_key(ident)}"
