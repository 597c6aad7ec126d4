"""sentry payloads to Tocsin events (to be written: see docs/integrations.md)."""

from typing import Any

from web.integrations.config import AdapterConfig
from web.integrations.event import InboundEvent, InvalidPayload


class Config(AdapterConfig):
    pass


def parse(body: Any, config: Config) -> list[InboundEvent]:
    raise InvalidPayload(["the sentry integration is not implemented yet"])
