"""Prometheus Alertmanager's webhook receiver (``webhook_configs``, payload version 4).

Alertmanager does not sign its requests: the integration key in the URL is the credential.
The mapping (fingerprint as dedup key, firing → trigger, resolved → resolve, the
``severity`` label) is shared with Grafana in prometheus_alerts.py.
"""

from typing import Any

from web.integrations.event import InboundEvent
from web.integrations.prometheus_alerts import AlertsConfig, Sender, parse_notification

SENDER = Sender(client="Alertmanager")


class Config(AlertsConfig):
    pass


def parse(body: Any, config: Config) -> list[InboundEvent]:
    return parse_notification(body, config, SENDER)
