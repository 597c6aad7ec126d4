"""Grafana alerting's webhook contact point.

Its payload is Alertmanager's (Grafana alerting runs an Alertmanager) with more per-alert
fields: dashboard, panel and silence URLs become links, an https ``imageURL`` an image, and
``valueString``/``values`` go into the details. The mapping itself is shared with
Alertmanager in prometheus_alerts.py.

Signatures follow Grafana's "HMAC Signature" webhook setting: the hex HMAC-SHA256 of the
body in ``X-Grafana-Alerting-Signature``; when a timestamp header is configured (Grafana
has no default name; we read ``X-Grafana-Alerting-Timestamp``, the name in Grafana's
provisioning docs, or ``X-Grafana-Alerting-Signature-Timestamp``), the signed string is
``timestamp:body`` and a timestamp more than five minutes off is refused as a replay.
"""

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

from web.integrations.event import InboundEvent
from web.integrations.json_fields import Fields, is_web_url
from web.integrations.prometheus_alerts import (
    AlertsConfig,
    Extras,
    Sender,
    parse_notification,
)
from workflows.messages import Image, Link

SIGNATURE_HEADER = "x-grafana-alerting-signature"
TIMESTAMP_HEADERS = ("x-grafana-alerting-timestamp", "x-grafana-alerting-signature-timestamp")
MAX_CLOCK_SKEW_SECONDS = 300

_LINKS = (("dashboardURL", "Dashboard"), ("panelURL", "Panel"), ("silenceURL", "Silence"))


class Config(AlertsConfig):
    pass


def _extras(alert: Mapping[str, Any], path: str, fields: Fields) -> Extras:
    urls = {name: fields.text(alert, name, path) for name, _ in _LINKS}
    image_url = fields.text(alert, "imageURL", path)
    value_string = fields.text(alert, "valueString", path)
    values = fields.mapping(alert, "values", path)
    links = [Link(href=url, text=text) for name, text in _LINKS if is_web_url(url := urls[name])]
    images = []
    if image_url and image_url.lower().startswith("https://"):
        href = urls["panelURL"] or urls["dashboardURL"]
        images.append(
            Image(
                src=image_url,
                href=href if is_web_url(href) else None,
                alt=_alt(alert),
            )
        )
    details = {
        "valueString": value_string or None,
        "values": values or None,
        **{name: url for name, url in urls.items() if url},
        "imageURL": image_url or None,
    }
    return Extras(
        links=links,
        images=images,
        details={k: v for k, v in details.items() if v is not None},
    )


def _alt(alert: Mapping[str, Any]) -> str | None:
    labels = alert.get("labels")
    name = labels.get("alertname") if isinstance(labels, dict) else None
    return name if isinstance(name, str) else None


SENDER = Sender(client="Grafana", extras=_extras)


def parse(body: Any, config: Config) -> list[InboundEvent]:
    return parse_notification(body, config, SENDER)


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    config: Config | None = None,
    *,
    now: float | None = None,
) -> bool:
    signature = headers.get(SIGNATURE_HEADER, "").strip().lower()
    if not signature or not signature.isascii():
        return False
    timestamp = next((headers[name] for name in TIMESTAMP_HEADERS if name in headers), None)
    signed = body
    if timestamp is not None:
        timestamp = timestamp.strip()
        if not _recent(timestamp, time.time() if now is None else now):
            return False
        signed = timestamp.encode() + b":" + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def _recent(timestamp: str, now: float) -> bool:
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        return False
    return abs(now - int(timestamp)) <= MAX_CLOCK_SKEW_SECONDS
