"""grafana payloads to Tocsin events (to be written: see docs/integrations.md)."""

from typing import Any

from pydantic import BaseModel, ConfigDict

from web.integrations.event import InboundEvent, InvalidPayload


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


def parse(body: Any, config: Config) -> list[InboundEvent]:
    raise InvalidPayload(["the grafana integration is not implemented yet"])
