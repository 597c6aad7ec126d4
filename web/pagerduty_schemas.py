"""PagerDuty's Events API bodies and answers, for the OpenAPI document.

Requests are validated by web/pagerduty_parse.py (which reports every problem in
PagerDuty's words); these models describe the same contract for readers and clients.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from workflows.messages import Severity

Action = Literal["trigger", "acknowledge", "resolve"]


class PdLink(BaseModel):
    href: str = Field(description="an http(s) URL")
    text: str | None = None


class PdImage(BaseModel):
    src: str = Field(description="an https URL")
    href: str | None = None
    alt: str | None = None


class PdPayload(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    summary: str = Field(max_length=1024)
    source: str
    severity: Severity
    timestamp: str | None = Field(default=None, description="ISO 8601")
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    custom_details: Any = None


class PdEvent(BaseModel):
    routing_key: str = Field(description="an integration key of type events")
    event_action: Action
    dedup_key: str | None = Field(
        default=None, max_length=255, description="required unless event_action is trigger"
    )
    payload: PdPayload | None = Field(default=None, description="required on trigger")
    images: list[PdImage] = Field(default_factory=list)
    links: list[PdLink] = Field(default_factory=list)
    client: str | None = None
    client_url: str | None = None


class PdAccepted(BaseModel):
    status: Literal["success"] = "success"
    message: str = "Event processed"
    dedup_key: str


class PdRefused(BaseModel):
    """400 ``invalid event``, 413, 429 ``throttle event`` (v1: 403)."""

    status: str
    message: str
    errors: list[str] = Field(default_factory=list)


class PdChangePayload(BaseModel):
    summary: str = Field(max_length=1024)
    source: str | None = None
    timestamp: str | None = Field(default=None, description="ISO 8601; default: arrival")
    custom_details: Any = None


class PdChangeEvent(BaseModel):
    routing_key: str
    payload: PdChangePayload
    links: list[PdLink] = Field(default_factory=list)


class PdChangeAccepted(BaseModel):
    status: Literal["success"] = "success"
    message: str = "Change event processed"


class PdV1Context(BaseModel):
    type: Literal["link", "image"]
    href: str | None = None
    text: str | None = None
    src: str | None = Field(default=None, description="images: an https URL")
    alt: str | None = None


class PdV1Event(BaseModel):
    service_key: str = Field(description="an integration key of type events")
    event_type: Action
    incident_key: str | None = Field(
        default=None, max_length=255, description="required unless event_type is trigger"
    )
    description: str | None = Field(
        default=None, max_length=1024, description="required on trigger"
    )
    details: Any = None
    client: str | None = None
    client_url: str | None = None
    contexts: list[PdV1Context] = Field(default_factory=list)


class PdV1Accepted(BaseModel):
    status: Literal["success"] = "success"
    message: str = "Event processed"
    incident_key: str
