"""Suppression rules, the pure half: a rule's spec and whether it matches a trigger.

No I/O here, so every condition and window edge is unit-tested directly. A spec is validated
once, when a rule is created or changed (bad regex, unknown time zone, a rule with no
conditions are rejected then); matching a stored spec never raises.
"""

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from models.time_zones import known_time_zone
from workflows.messages import Severity

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

MAX_REGEX_LENGTH = 500
# A regex only ever sees this much of the summary, so a slow pattern stays bounded.
REGEX_SEARCH_CHARS = 1024
CONDITIONS = ("source", "severity", "summary_contains", "summary_regex", "custom_details")


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


# Given as one severity or a list, kept as a list.
Severities = Annotated[
    list[Severity], BeforeValidator(_as_list, json_schema_input_type=Severity | list[Severity])
]


class _Model(BaseModel):
    # Unknown fields are errors, not ignored: a misspelt condition silently dropped would make
    # a rule suppress more than its author meant.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class Window(_Model):
    days: list[Day] = Field(min_length=1)
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, local time")
    end: str = Field(
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="HH:MM, exclusive; end <= start crosses midnight into the next day",
    )

    def contains(self, local: datetime) -> bool:
        minute = local.hour * 60 + local.minute
        day = DAYS[local.weekday()]
        start, end = _minutes(self.start), _minutes(self.end)
        if start < end:
            return day in self.days and start <= minute < end
        # Crosses midnight: the evening of a listed day or the early morning after one.
        yesterday = DAYS[(local - timedelta(days=1)).weekday()]
        return (day in self.days and minute >= start) or (yesterday in self.days and minute < end)


class Schedule(_Model):
    timezone: str = Field(description="IANA time zone, e.g. Europe/Berlin")
    windows: list[Window] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        known_time_zone(value)
        return value

    def contains(self, now: datetime) -> bool:
        # Wall-clock time in the zone, so windows follow DST changes.
        local = now.astimezone(ZoneInfo(self.timezone))
        return any(window.contains(local) for window in self.windows)


class SpecFields(_Model):
    """The fields of a spec and their checks, without the whole-rule check (so a partial
    update can reuse them)."""

    source: str | None = Field(default=None, min_length=1, description="exact match")
    severity: Severities | None = Field(
        default=None, description="one severity or a list of them (answered as a list)"
    )
    summary_contains: str | None = Field(
        default=None, min_length=1, description="case-insensitive substring"
    )
    summary_regex: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_REGEX_LENGTH,
        description=f"Python re, searched in the first {REGEX_SEARCH_CHARS} characters",
    )
    custom_details: dict[str, str | int | float | bool] | None = Field(
        default=None, description="key -> value; compared as strings"
    )
    active_from: AwareDatetime | None = Field(default=None, description="inclusive")
    active_until: AwareDatetime | None = Field(default=None, description="exclusive")
    schedule: Schedule | None = Field(
        default=None, description="weekly windows; not with activeFrom/activeUntil"
    )

    @field_validator("severity")
    @classmethod
    def _non_empty_severity(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("give at least one severity")
        return value

    @field_validator("summary_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as err:
                raise ValueError(f"invalid regular expression: {err}") from err
        return value

    @field_validator("active_until")
    @classmethod
    def _after_from(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("active_from")
        if value is not None and start is not None and value <= start:
            raise ValueError("activeUntil must be after activeFrom")
        return value

    @field_validator("schedule")
    @classmethod
    def _one_kind_of_window(cls, value: Schedule | None, info: ValidationInfo) -> Any:
        if value is not None and (info.data.get("active_from") or info.data.get("active_until")):
            raise ValueError("use either schedule or activeFrom/activeUntil, not both")
        return value


class SuppressionSpec(SpecFields):
    """What a rule matches (every given condition must hold) and when it is active."""

    @model_validator(mode="after")
    def _has_a_condition(self) -> "SuppressionSpec":
        if not any(getattr(self, name) for name in CONDITIONS):
            raise ValueError(
                "a rule needs at least one condition: source, severity, summaryContains, "
                "summaryRegex or customDetails"
            )
        return self

    @cached_property
    def _regex(self) -> re.Pattern[str] | None:
        return re.compile(self.summary_regex) if self.summary_regex else None

    @cached_property
    def _severities(self) -> frozenset[str]:
        return frozenset(self.severity or ())

    def to_json(self) -> dict[str, Any]:
        """The stored form (camelCase, unset fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:5])


def is_active(spec: SuppressionSpec, now: datetime) -> bool:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if spec.active_from is not None and now < spec.active_from:
        return False
    if spec.active_until is not None and now >= spec.active_until:
        return False
    return spec.schedule is None or spec.schedule.contains(now)


def conditions_match(spec: SuppressionSpec, payload: dict[str, Any]) -> bool:
    summary = str(payload.get("summary") or "")
    if spec.source is not None and payload.get("source") != spec.source:
        return False
    if spec.severity is not None and payload.get("severity") not in spec._severities:
        return False
    if (
        spec.summary_contains is not None
        and spec.summary_contains.casefold() not in summary.casefold()
    ):
        return False
    if spec._regex is not None and spec._regex.search(summary[:REGEX_SEARCH_CHARS]) is None:
        return False
    if spec.custom_details:
        details = payload.get("custom_details")
        if not isinstance(details, dict):
            return False
        for key, expected in spec.custom_details.items():
            # A missing key never matches (not even the string "None").
            if key not in details or str(details[key]) != str(expected):
                return False
    return True


def rule_matches(spec: SuppressionSpec, payload: dict[str, Any], now: datetime) -> bool:
    """Whether the rule suppresses this trigger ``payload`` (summary, source, severity,
    custom_details) at ``now`` (timezone-aware)."""
    return is_active(spec, now) and conditions_match(spec, payload)


def first_matching_rule(
    rules: Sequence[tuple[str, SuppressionSpec]], payload: dict[str, Any], now: datetime
) -> str | None:
    """The id of the first rule, in the given order, that suppresses the trigger."""
    for rule_id, spec in rules:
        if rule_matches(spec, payload, now):
            return rule_id
    return None
