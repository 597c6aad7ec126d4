"""On-call schedule specs, the validated input of ``models.shifts`` (pure: no I/O, no tables).

A schedule is a time zone, ordered layers (index 0 lowest; a higher layer wins where it has
someone) and overrides. Layer times are naive *local* wall-clock times in the schedule's zone,
so a 09:00 handoff means 09:00 local whatever the UTC offset is that day; override times are
instants (aware, kept in UTC). Every check names its field, so the API can answer 400 with it.
"""

import re
from datetime import UTC, datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NaiveDatetime,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.alias_generators import to_camel

from models.time_zones import known_time_zone

# Layer times and render windows stay inside these (naive, read as local or UTC), so calendar
# arithmetic and offset changes never overflow datetime's range.
EARLIEST = datetime(1900, 1, 1)
LATEST = datetime(3000, 1, 1)

_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def _parse_hhmm(value: Any) -> Any:
    if isinstance(value, str):
        if not _HHMM.fullmatch(value):
            raise ValueError("expected HH:MM (00:00 to 23:59), local time")
        return time(int(value[:2]), int(value[3:]))
    return value


def _wall_minute(value: time) -> time:
    if value.tzinfo is not None or value.second or value.microsecond:
        raise ValueError("expected a local time of day in whole minutes, without a zone")
    return value


# A local time of day: given and answered as "HH:MM".
LocalTime = Annotated[
    time,
    BeforeValidator(_parse_hhmm, json_schema_input_type=str),
    AfterValidator(_wall_minute),
    PlainSerializer(lambda value: value.strftime("%H:%M"), return_type=str),
]


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"expected a date-time from {EARLIEST:%Y} to {LATEST.year - 1}")
    return value


# Documented as a plain string: JSON Schema's "date-time" requires an offset, and these
# have none on purpose (they are wall-clock times in the schedule's zone).
LocalDateTime = Annotated[
    NaiveDatetime,
    AfterValidator(_in_range),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$",
            "examples": ["2026-03-02T09:00"],
        }
    ),
]

Weekday = Annotated[int, Field(ge=0, le=6, description="0 = Monday ... 6 = Sunday")]
UserId = Annotated[str, Field(min_length=1, max_length=200)]


def _in_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]


class _Model(BaseModel):
    # Unknown fields are errors: a misspelt option silently ignored would put the wrong
    # person on call.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class HoursShift(_Model):
    """Handoffs every ``hours`` hours of local wall-clock time from the layer's start."""

    kind: Literal["hours"] = "hours"
    hours: int = Field(ge=1, le=24 * 366)


class DaysShift(_Model):
    """Handoffs every ``days`` calendar days at the layer start's local time of day."""

    kind: Literal["days"] = "days"
    days: int = Field(ge=1, le=366)


class WeeklyShift(_Model):
    """Handoffs every week at a local weekday and time; the first shift runs from the
    layer's start to the first handoff after it."""

    kind: Literal["weekly"] = "weekly"
    handoff_weekday: Weekday
    handoff_time: LocalTime


ShiftLength = Annotated[HoursShift | DaysShift | WeeklyShift, Field(discriminator="kind")]


class Restriction(_Model):
    """A local time-of-day window on some weekdays (all days when ``days`` is absent).

    ``end`` is exclusive; ``end`` before ``start`` crosses midnight, and the window belongs to
    the weekday it starts on (Mon 22:00 to Tue 06:00 is Monday's).
    """

    days: list[Weekday] | None = Field(default=None, min_length=1)
    start: LocalTime
    end: LocalTime

    @field_validator("end")
    @classmethod
    def _not_empty(cls, value: time, info: ValidationInfo) -> time:
        if value == info.data.get("start"):
            raise ValueError("end must differ from start (end before start crosses midnight)")
        return value

    def applies_on(self, weekday: int) -> bool:
        return self.days is None or weekday in self.days


class LayerSpec(_Model):
    start: LocalDateTime = Field(description="local date-time in the schedule's zone")
    end: LocalDateTime | None = Field(default=None, description="local, exclusive")
    users: list[UserId] = Field(min_length=1, description="rotation order")
    shift: ShiftLength
    restrictions: list[Restriction] | None = Field(
        default=None, min_length=1, description="only these windows are covered"
    )

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("start")
        if value is not None and start is not None and value <= start:
            raise ValueError("end must be after start")
        return value


class OverrideSpec(_Model):
    """``user_id`` covers [start, end) instead of whoever is on call there, or only where
    ``replaces_user_id`` is on call (per the layers). Overlaps: the latest created wins."""

    user_id: UserId
    start: Instant
    end: Instant
    replaces_user_id: UserId | None = None
    created_at: Instant

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and value <= start:
            raise ValueError("end must be after start")
        return value


class ScheduleSpec(_Model):
    time_zone: str = Field(max_length=100, description="IANA time zone, e.g. Europe/Berlin")
    layers: list[LayerSpec] = Field(default_factory=list, description="index 0 is the lowest")
    overrides: list[OverrideSpec] = Field(default_factory=list)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        known_time_zone(value)
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)  # zoneinfo caches instances by key
