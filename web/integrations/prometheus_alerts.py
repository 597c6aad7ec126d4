"""Alertmanager-shaped notifications to events, shared by Prometheus Alertmanager (webhook
payload version 4) and Grafana alerting (whose webhook contact point sends the same
envelope with more per-alert fields).

Per alert (the default) every alert of a notification is its own incident, keyed by its
fingerprint, so one alert resolving closes only its incident. Per group (``groupBy:
"group"``) a notification is one incident keyed by its groupKey, the way Alertmanager's own
PagerDuty receiver works. Each event carries a content idempotency key, because
Alertmanager HA pairs deliver every notification once per instance.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

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
from web.integrations.json_fields import Fields, at, is_web_url
from web.integrations.severity import most_severe, severity_from
from workflows.messages import Image, Link, Severity

GroupBy = Literal["alert", "group"]
T = TypeVar("T", Link, Image)

ACTIONS: dict[str, Action] = {"firing": "trigger", "resolved": "resolve"}
STATUS_ERROR = 'must be "firing" or "resolved"'
MAX_SOURCE = 255
# A group of hundreds of alerts still makes a readable incident.
MAX_GROUP_LINKS = 20
MAX_GROUP_IMAGES = 10


class AlertsConfig(AdapterConfig):
    """``groupBy``: ``alert`` (one incident per alert) or ``group`` (one per notification
    group)."""

    group_by: GroupBy = "alert"


@dataclass(frozen=True)
class Extras:
    """What a sender adds to an alert beyond Alertmanager's fields."""

    links: list[Link] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


ReadExtras = Callable[[Mapping[str, Any], str, Fields], Extras]


def no_extras(alert: Mapping[str, Any], path: str, fields: Fields) -> Extras:
    return Extras()


@dataclass(frozen=True)
class Sender:
    client: str  # "Alertmanager": the alert's client, the external URL's link text
    extras: ReadExtras = no_extras


@dataclass(frozen=True)
class Alert:
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str | None
    ends_at: str | None
    generator_url: str | None
    fingerprint: str | None
    extras: Extras

    @property
    def key(self) -> str:
        """The fingerprint (a hash of the labels) identifies an alert across notifications;
        without one, the labels themselves do."""
        if self.fingerprint and len(self.fingerprint) <= MAX_DEDUP_KEY:
            return self.fingerprint
        if self.fingerprint:
            return stable_key(self.fingerprint)
        return stable_key(sorted(self.labels.items()))

    def details(self) -> dict[str, Any]:
        details = {
            "status": self.status,
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": self.starts_at,
            "endsAt": self.ends_at,
            "generatorURL": self.generator_url,
            "fingerprint": self.fingerprint,
            **self.extras.details,
        }
        return {k: v for k, v in details.items() if v is not None}

    def links(self) -> list[Link]:
        source = [Link(href=self.generator_url, text="Source")] if self.generator_url else []
        return [link for link in [*source, *self.extras.links] if is_web_url(link.href)]


@dataclass(frozen=True)
class Notification:
    status: str | None
    receiver: str | None
    group_key: str | None
    group_labels: dict[str, str]
    common_labels: dict[str, str]
    common_annotations: dict[str, str]
    external_url: str | None
    truncated_alerts: int | None
    alerts: list[Alert]


def parse_notification(body: Any, config: AlertsConfig, sender: Sender) -> list[InboundEvent]:
    notification = read(body, sender, grouped=config.group_by == "group")
    if config.group_by == "group":
        return [_group_event(notification, sender)]
    return [_alert_event(alert, notification, sender) for alert in notification.alerts]


def read(body: Any, sender: Sender, *, grouped: bool) -> Notification:
    """The whole notification, type-checked (InvalidPayload naming every bad field)."""
    if not isinstance(body, dict):
        raise InvalidPayload(["body: must be a JSON object"])
    fields, top = Fields(), body
    status = _status(fields, top, "", required=grouped)
    group_key = fields.text(top, "groupKey", "")
    if grouped and not group_key:
        fields.fail("groupKey", 'required when groupBy is "group"')
    raw_alerts = fields.items(top, "alerts", "") or []
    alerts = [
        _read_alert(fields, raw, at("alerts", i), status, sender)
        for i, raw in enumerate(raw_alerts)
    ]
    notification = Notification(
        status=status,
        receiver=fields.text(top, "receiver", ""),
        group_key=group_key,
        group_labels=fields.strings(top, "groupLabels", ""),
        common_labels=fields.strings(top, "commonLabels", ""),
        common_annotations=fields.strings(top, "commonAnnotations", ""),
        external_url=fields.text(top, "externalURL", ""),
        truncated_alerts=fields.integer(top, "truncatedAlerts", ""),
        alerts=[alert for alert in alerts if alert is not None],
    )
    fields.check()
    return notification


def _status(fields: Fields, parent: Mapping[str, Any], path: str, *, required: bool) -> str | None:
    value = parent.get("status")
    if value is None and not required:
        return None
    if not isinstance(value, str) or value not in ACTIONS:
        fields.fail(at(path, "status"), STATUS_ERROR)
        return None
    return value


def _read_alert(
    fields: Fields, raw: Any, path: str, notification_status: str | None, sender: Sender
) -> Alert | None:
    alert = fields.obj(raw, path)
    if alert is None:
        return None
    # An alert's own status decides; a sender leaving it out means the notification's.
    status = _status(fields, alert, path, required=False) or notification_status
    if status is None and alert.get("status") is None:  # (a bad one is reported already)
        fields.fail(at(path, "status"), STATUS_ERROR)
    return Alert(
        status=status or "firing",
        labels=fields.strings(alert, "labels", path),
        annotations=fields.strings(alert, "annotations", path),
        starts_at=fields.text(alert, "startsAt", path),
        ends_at=fields.text(alert, "endsAt", path),
        generator_url=fields.text(alert, "generatorURL", path),
        fingerprint=fields.text(alert, "fingerprint", path),
        extras=sender.extras(alert, path, fields),
    )


def _first(*texts: str | None) -> str | None:
    return next((text for text in texts if text), None)


def _summary(annotations: Mapping[str, str], labels: Mapping[str, str]) -> str | None:
    return _first(
        annotations.get("summary"), annotations.get("description"), labels.get("alertname")
    )


def _source(labels: Mapping[str, str], notification: Notification, sender: Sender) -> str:
    source = _first(
        labels.get("instance"),
        labels.get("job"),
        notification.receiver,
        notification.external_url,
    )
    return clip(source or sender.client.lower(), MAX_SOURCE)


def _client_url(notification: Notification) -> str | None:
    return notification.external_url if is_web_url(notification.external_url) else None


def _external_link(notification: Notification, sender: Sender) -> list[Link]:
    url = _client_url(notification)
    return [Link(href=url, text=sender.client)] if url else []


def _alert_event(alert: Alert, notification: Notification, sender: Sender) -> InboundEvent:
    return _event(
        sender,
        notification,
        action=ACTIONS[alert.status],
        dedup_key=alert.key,
        summary=_summary(alert.annotations, alert.labels) or f"{sender.client} alert",
        severity=severity_from(alert.labels.get("severity")),
        source=_source(alert.labels, notification, sender),
        details={**alert.details(), "receiver": notification.receiver},
        class_=alert.labels.get("alertname"),
        timestamp=alert.starts_at,
        links=alert.links(),
        images=alert.extras.images,
        idempotency_key=stable_key(alert.key, alert.status, alert.starts_at),
    )


def _group_event(notification: Notification, sender: Sender) -> InboundEvent:
    assert notification.status is not None and notification.group_key is not None
    group_key = notification.group_key
    alerts = notification.alerts
    firing = [alert for alert in alerts if alert.status == "firing"] or alerts
    base = (
        _summary(notification.common_annotations, notification.common_labels)
        or notification.group_labels.get("alertname")
        or f"{sender.client} alert group"
    )
    count = len(alerts) + (notification.truncated_alerts or 0)
    return _event(
        sender,
        notification,
        action=ACTIONS[notification.status],
        dedup_key=group_key if len(group_key) <= MAX_DEDUP_KEY else stable_key(group_key),
        summary=base if count <= 1 else f"{base} ({count} alerts)",
        severity=most_severe(
            (severity_from(alert.labels.get("severity")) for alert in firing),
            default=severity_from(notification.common_labels.get("severity")),
        ),
        source=_source(notification.common_labels, notification, sender),
        details={
            "status": notification.status,
            "receiver": notification.receiver,
            "groupKey": group_key,
            "groupLabels": notification.group_labels,
            "commonLabels": notification.common_labels,
            "commonAnnotations": notification.common_annotations,
            "truncatedAlerts": notification.truncated_alerts,
            "alerts": [alert.details() for alert in alerts],
        },
        class_=notification.group_labels.get("alertname"),
        timestamp=min((a.starts_at for a in alerts if a.starts_at), default=None),
        links=_unique([link for a in alerts for link in a.links()], MAX_GROUP_LINKS),
        images=_unique([image for a in alerts for image in a.extras.images], MAX_GROUP_IMAGES),
        idempotency_key=stable_key(
            group_key,
            notification.status,
            sorted((alert.key, alert.status, alert.starts_at or "") for alert in alerts),
        ),
    )


def _event(
    sender: Sender,
    notification: Notification,
    *,
    action: Action,
    dedup_key: str,
    summary: str,
    severity: Severity,
    source: str,
    details: dict[str, Any],
    class_: str | None,
    timestamp: str | None,
    links: list[Link],
    images: list[Image],
    idempotency_key: str,
) -> InboundEvent:
    summary = clip(summary)
    details = {k: v for k, v in details.items() if v is not None}
    return alert_event(
        action,
        dedup_key,
        summary=summary,
        source=source,
        severity=severity,
        details=details,
        class_=class_,
        timestamp=timestamp,
        links=[*links, *_external_link(notification, sender)],
        images=images,
        client=sender.client,
        client_url=_client_url(notification),
        idempotency_key=idempotency_key,
    )


def _unique(items: list[T], limit: int) -> list[T]:
    seen: list[T] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen[:limit]
