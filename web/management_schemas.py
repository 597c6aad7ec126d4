"""Request and response models of the management API (users, teams, services, integrations,
API keys, escalation policies). camelCase on the wire; PATCH bodies change only the fields
they contain."""

from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import ConfigDict, Field, field_validator

from models.escalation import MAX_DELAY_MINUTES, MAX_REPEAT_COUNT, MAX_STEPS, MAX_TARGETS
from web.schemas import CamelModel

Role = Literal["admin", "responder", "observer"]
T = TypeVar("T")


def _not_null(value: T | None) -> T:
    """In a PATCH body an absent field means unchanged; null is refused where the field
    cannot be empty (defaults are not validated, so this sees only explicit nulls)."""
    if value is None:
        raise ValueError("must not be null")
    return value


class Deleted(CamelModel):
    id: str
    deleted: Literal[True] = True


# --- users ------------------------------------------------------------------------------


class UserCreate(CamelModel):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=320, description="stored lowercased; unique")
    timezone: str = Field(default="UTC", max_length=64, description="an IANA time zone")
    role: Role = "responder"


class UserPatch(CamelModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    timezone: str | None = Field(default=None, max_length=64)
    role: Role | None = None

    _not_null = field_validator("name", "email", "timezone", "role")(_not_null)


class UserOut(CamelModel):
    id: str
    name: str
    email: str
    timezone: str
    role: str
    created_at: datetime


class UserList(CamelModel):
    users: list[UserOut]


# --- teams ------------------------------------------------------------------------------


class TeamCreate(CamelModel):
    name: str = Field(min_length=1, max_length=200)
    member_ids: list[str] = Field(default_factory=list)


class TeamPatch(CamelModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    member_ids: list[str] | None = Field(default=None, description="replaces the members")

    _not_null = field_validator("name", "member_ids")(_not_null)


class MemberAdd(CamelModel):
    user_id: str


class TeamOut(CamelModel):
    id: str
    name: str
    member_ids: list[str]
    created_at: datetime


class TeamList(CamelModel):
    teams: list[TeamOut]


# --- services and integrations ----------------------------------------------------------


SLACK_CHANNEL = Field(
    default=None,
    pattern=r"^(#[a-z0-9][a-z0-9_-]{0,79}|[CG][A-Z0-9]{2,20})$",
    description="a Slack channel id (C…) or #name where incidents are announced",
)
WEBHOOK_URL = Field(
    default=None,
    max_length=2048,
    pattern=r"^https?://[^\s]+$",
    description="receives a signed JSON POST on every lifecycle event (docs/webhooks.md)",
)


class ServiceCreate(CamelModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    team_id: str | None = None
    escalation_policy_id: str | None = Field(default=None, max_length=40)
    slack_channel: str | None = SLACK_CHANNEL
    webhook_url: str | None = WEBHOOK_URL


class ServicePatch(CamelModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    team_id: str | None = Field(default=None, description="null: no team")
    escalation_policy_id: str | None = Field(default=None, max_length=40)
    slack_channel: str | None = SLACK_CHANNEL
    webhook_url: str | None = WEBHOOK_URL

    _not_null = field_validator("name")(_not_null)


class ServiceOut(CamelModel):
    id: str
    name: str
    description: str | None
    team_id: str | None
    escalation_policy_id: str | None
    slack_channel: str | None
    webhook_url: str | None
    created_at: datetime


class ServiceList(CamelModel):
    services: list[ServiceOut]


class ServiceDeleted(Deleted):
    resolved_incident_ids: list[str] = Field(description="open incidents resolved by ?force")


class ServiceDeleteQuery(CamelModel):
    force: bool = Field(default=False, description="resolve open incidents first")


class IntegrationCreate(CamelModel):
    name: str = Field(min_length=1, max_length=200)
    type: str = Field(
        default="events",
        description="events (Events API, PagerDuty v2/v1) or alertmanager, grafana, generic, "
        "datadog, sentry, cloudwatch (docs/integrations.md)",
    )
    config: dict[str, Any] = Field(default_factory=dict, description="the type's options")
    signing_secret: str | None = Field(
        default=None,
        min_length=8,
        max_length=500,
        description="verify the sender's HMAC signature with this secret (grafana, sentry, "
        "generic); stored encrypted, never shown again",
    )


class IntegrationPatch(CamelModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None
    signing_secret: str | None = Field(
        default=None, max_length=500, description='"" stops verifying signatures'
    )


class IntegrationOut(CamelModel):
    id: str
    service_id: str
    name: str
    type: str
    config: dict[str, Any]
    signed: bool = Field(description="requests must carry the sender's signature")
    key_prefix: str
    disabled: bool
    created_at: datetime


class IntegrationCreated(IntegrationOut):
    integration_key: str = Field(description="shown once; only its hash is stored")
    url: str = Field(description="where the sender posts its events (contains the key)")


class IntegrationList(CamelModel):
    integrations: list[IntegrationOut]


# --- API keys ---------------------------------------------------------------------------


class ApiKeyCreate(CamelModel):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1)
    service_ids: list[str] | None = Field(default=None, description="null: every service")
    user_id: str | None = Field(
        default=None, description="a non-admin user's key reaches only its teams' services"
    )


class ApiKeyOut(CamelModel):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    service_ids: list[str] | None
    user_id: str | None
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="shown once; only its hash is stored")


class ApiKeyList(CamelModel):
    api_keys: list[ApiKeyOut]


# --- escalation policies ----------------------------------------------------------------


class EscalationTarget(CamelModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["user", "team", "schedule"] = Field(
        description="a schedule pages whoever is on call when the step fires"
    )
    id: str = Field(min_length=1, max_length=40)


class EscalationStepIn(CamelModel):
    model_config = ConfigDict(extra="forbid")

    delay_minutes: int = Field(
        ge=0,
        le=MAX_DELAY_MINUTES,
        strict=True,
        description="the wait after this step's notifications before the next step",
    )
    targets: list[EscalationTarget] = Field(min_length=1, max_length=MAX_TARGETS)
    channels: list[Literal["slack", "email", "webhook"]] | None = Field(
        default=None,
        min_length=1,
        description="null: each target's own notification rules decide",
    )


class EscalationPolicyCreate(CamelModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    repeat_count: int = Field(
        default=0,
        ge=0,
        le=MAX_REPEAT_COUNT,
        strict=True,
        description="how many more times the steps run after the last one",
    )
    steps: list[EscalationStepIn] = Field(min_length=1, max_length=MAX_STEPS)


class EscalationPolicyPatch(CamelModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    repeat_count: int | None = Field(default=None, ge=0, le=MAX_REPEAT_COUNT, strict=True)
    steps: list[EscalationStepIn] | None = Field(
        default=None, min_length=1, max_length=MAX_STEPS, description="replaces every step"
    )

    _not_null = field_validator("name", "repeat_count", "steps")(_not_null)


class EscalationStepOut(CamelModel):
    delay_minutes: int
    targets: list[EscalationTarget]
    channels: list[str] | None


class EscalationPolicyOut(CamelModel):
    id: str
    name: str
    description: str | None
    repeat_count: int
    steps: list[EscalationStepOut]
    service_ids: list[str] = Field(description="the live services using it")
    created_at: datetime
    updated_at: datetime


class EscalationPolicyList(CamelModel):
    escalation_policies: list[EscalationPolicyOut]


# --- contact methods and notification rules ---------------------------------------------

ContactType = Literal["slack", "email", "webhook"]
Channel = Literal["slack", "email", "webhook"]


class ContactMethodCreate(CamelModel):
    type: ContactType
    address: str = Field(
        min_length=1,
        max_length=2048,
        description="a Slack user id (U…/W…), an email address or an http(s) URL",
    )
    label: str | None = Field(default=None, max_length=200)


class ContactMethodOut(CamelModel):
    id: str
    user_id: str
    type: str
    address: str
    label: str | None
    created_at: datetime


class ContactMethodList(CamelModel):
    contact_methods: list[ContactMethodOut]


class NotificationRuleIn(CamelModel):
    channels: list[Channel] = Field(
        min_length=1, max_length=3, description="how the user is reached for this urgency"
    )


class NotificationRuleOut(CamelModel):
    urgency: Literal["HIGH", "MEDIUM", "LOW"]
    channels: list[str]
    default: bool = Field(description="true: no rule set, the default applies")


class NotificationRuleList(CamelModel):
    notification_rules: list[NotificationRuleOut]
