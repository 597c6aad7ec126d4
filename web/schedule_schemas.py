"""Request and response models of the schedules API and calendar feeds. camelCase on the
wire; layers are models.schedules.NamedLayer (the renderer's LayerSpec plus a name), so the
API accepts exactly what the renderer can read and names the field it cannot."""

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from models.schedules import MAX_LAYERS, NamedLayer, check_instant
from web.management_schemas import _not_null
from web.schemas import CamelModel

# A "+" in a query string arrives as a space (2026-03-02T09:00:00 01:00): put it back.
_SPACED_OFFSET = re.compile(r"^(.*\d) (\d\d(:?\d\d)?)$")


def _restore_plus(value: Any) -> Any:
    if isinstance(value, str) and (match := _SPACED_OFFSET.match(value)):
        return f"{match.group(1)}+{match.group(2)}"
    return value


# An instant with an offset (kept in UTC), in the years 1900 to 2999.
Instant = Annotated[AwareDatetime, BeforeValidator(_restore_plus), AfterValidator(check_instant)]


class Strict(CamelModel):
    model_config = ConfigDict(extra="forbid")


# --- schedules --------------------------------------------------------------------------


class ScheduleCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    time_zone: str = Field(max_length=100, description="IANA time zone, e.g. Europe/Berlin")
    layers: list[NamedLayer] = Field(
        default_factory=list,
        max_length=MAX_LAYERS,
        description="index 0 is the lowest; a higher layer wins where it has someone "
        "(docs/schedules.md)",
    )
    team_id: str | None = Field(default=None, max_length=40)
    handoff_notifications: bool = Field(
        default=False, description="the incoming person hears when their shift starts"
    )


class SchedulePatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    time_zone: str | None = Field(default=None, max_length=100)
    layers: list[NamedLayer] | None = Field(
        default=None, max_length=MAX_LAYERS, description="replaces every layer"
    )
    team_id: str | None = Field(default=None, max_length=40, description="null: no team")
    handoff_notifications: bool | None = None

    _not_null = field_validator("name", "time_zone", "layers", "handoff_notifications")(_not_null)


class ScheduleOut(CamelModel):
    id: str
    name: str
    description: str | None
    time_zone: str
    layers: list[NamedLayer]
    team_id: str | None
    handoff_notifications: bool
    created_at: datetime
    updated_at: datetime


class ScheduleList(CamelModel):
    schedules: list[ScheduleOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class ScheduleListQuery(CamelModel):
    limit: int = Field(default=100, ge=1, description="capped at 500")
    cursor: str | None = None


# --- overrides --------------------------------------------------------------------------


class OverrideCreate(Strict):
    user_id: str = Field(min_length=1, max_length=40)
    start: Instant
    end: Instant
    replaces_user_id: str | None = Field(
        default=None,
        max_length=40,
        description="cover only where the layers have this user on call",
    )


class OverrideOut(CamelModel):
    id: str
    schedule_id: str
    user_id: str
    replaces_user_id: str | None
    start: datetime
    end: datetime
    created_at: datetime = Field(description="of overlapping overrides the latest created wins")


class OverrideList(CamelModel):
    overrides: list[OverrideOut]


class OverrideQuery(CamelModel):
    window_start: Instant | None = Field(default=None, alias="from", description="default now")
    window_end: Instant | None = Field(default=None, alias="to", description="default: no end")


# --- who is on call, shifts -------------------------------------------------------------


class OnCallQuery(CamelModel):
    at: Instant | None = Field(default=None, description="default now")


class Person(CamelModel):
    id: str
    name: str | None = Field(description="null for a user deleted since")
    email: str | None


class ShiftRef(CamelModel):
    start: datetime
    end: datetime
    layer: int | None = Field(description="the layer whose rotation it is; null: an override")
    override_id: str | None


class OnCallOut(CamelModel):
    at: datetime
    users: list[Person] = Field(description="empty: nobody is on call")
    shift: ShiftRef | None


class ShiftQuery(CamelModel):
    window_start: Instant | None = Field(default=None, alias="from", description="default now")
    window_end: Instant | None = Field(
        default=None, alias="to", description="default from + 14 days; at most from + 90 days"
    )
    layer: int | None = Field(default=None, ge=0, description="one layer's own shifts")


class ShiftOut(CamelModel):
    user_id: str
    user_name: str | None
    start: datetime
    end: datetime
    layer: int | None
    override_id: str | None


class ShiftList(CamelModel):
    schedule_id: str
    time_zone: str
    window_start: datetime = Field(alias="from")
    window_end: datetime = Field(alias="to")
    shifts: list[ShiftOut]


# --- calendar feeds ---------------------------------------------------------------------


class CalendarFeedCreated(CamelModel):
    id: str
    schedule_id: str | None
    user_id: str | None
    url: str = Field(description="subscribe to it in a calendar app; contains the token")
    token: str = Field(description="shown once; only its hash is stored")
    created_at: datetime


class CalendarFeedsRevoked(CamelModel):
    revoked: int = Field(description="how many feeds stopped working")
