"""The integration types served at ``/api/integrations/<type>/<key>``, by URL name.

An adapter module provides ``Config`` (its options, an AdapterConfig) and
``parse(body, config)``; optionally ``verify(headers, body, secret, config)`` when the sender signs
its requests (then an integration may hold a signing secret), and ``envelope(headers,
body, settings)``, an async unwrapping step that needs I/O (AWS SNS's signed envelope),
returning the inner body or None when there is nothing to ingest. Header names are passed
lower-cased.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from tocsin.settings import Settings
from web.integrations import alertmanager, cloudwatch, datadog, generic, grafana, sentry
from web.integrations.config import AdapterConfig
from web.integrations.event import InboundEvent

# The Events API (/api/events, PagerDuty /v2/enqueue and the v1 generic endpoint).
EVENTS_API = "events"

Verify = Callable[[Mapping[str, str], bytes, str, Any], bool]
Envelope = Callable[[Mapping[str, str], Any, Settings], Awaitable[Any | None]]


@dataclass(frozen=True)
class Adapter:
    parse: Callable[[Any, Any], list[InboundEvent]]
    config: type[AdapterConfig]
    verify: Verify | None = None
    envelope: Envelope | None = None

    @classmethod
    def of(cls, module: ModuleType) -> "Adapter":
        return cls(
            parse=module.parse,
            config=module.Config,
            verify=getattr(module, "verify", None),
            envelope=getattr(module, "envelope", None),
        )


ADAPTERS: dict[str, Adapter] = {
    "alertmanager": Adapter.of(alertmanager),
    "grafana": Adapter.of(grafana),
    "generic": Adapter.of(generic),
    "datadog": Adapter.of(datadog),
    "sentry": Adapter.of(sentry),
    "cloudwatch": Adapter.of(cloudwatch),
}

INTEGRATION_TYPES = (EVENTS_API, *ADAPTERS)


def integration_url(public_url: str, integration_type: str, key: str) -> str:
    """Where the sender posts: PagerDuty's v2 path for Events API keys (the key goes in the
    body as routing_key), the type's own path with the key for native integrations."""
    base = public_url.rstrip("/")
    if integration_type == EVENTS_API:
        return f"{base}/v2/enqueue"
    return f"{base}/api/integrations/{integration_type}/{key}"
