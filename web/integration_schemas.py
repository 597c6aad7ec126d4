"""Response models of the native integration endpoints (they also make the OpenAPI document)."""

from typing import Literal

from pydantic import BaseModel

from web.schemas import EventIncident


class IngestedEvent(BaseModel):
    dedup_key: str
    action: Literal["triggered", "deduplicated", "acknowledged", "resolved", "ignored"]
    incident: EventIncident | None


class IntegrationEventsResponse(BaseModel):
    status: Literal["success"] = "success"
    message: str = "Event processed"
    events: list[IngestedEvent]
