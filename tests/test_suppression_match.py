"""Suppression rule matching, pure: every condition, window edges, DST, and validation."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from web.suppression_match import (
    REGEX_SEARCH_CHARS,
    SuppressionSpec,
    first_matching_rule,
    rule_matches,
)

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)  # a Wednesday


def spec(**data: Any) -> SuppressionSpec:
    return SuppressionSpec.model_validate(data)


def payload(
    summary: str = "Disk full on db-1",
    source: str = "prometheus",
    severity: str = "warning",
    custom_details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "summary": summary,
        "source": source,
        "severity": severity,
        "custom_details": custom_details,
    }


def error_fields(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as info:
        SuppressionSpec.model_validate(data)
    return [".".join(str(p) for p in e["loc"]) for e in info.value.errors()]


# --- conditions ------------------------------------------------------------------------------


def test_source_is_exact() -> None:
    rule = spec(source="prometheus")
    assert rule_matches(rule, payload(source="prometheus"), NOW)
    assert not rule_matches(rule, payload(source="Prometheus"), NOW)
    assert not rule_matches(rule, payload(source="prometheus-2"), NOW)


def test_severity_one_or_list() -> None:
    assert rule_matches(spec(severity="warning"), payload(severity="warning"), NOW)
    assert not rule_matches(spec(severity="warning"), payload(severity="critical"), NOW)
    several = spec(severity=["info", "warning"])
    assert rule_matches(several, payload(severity="info"), NOW)
    assert not rule_matches(several, payload(severity="error"), NOW)


def test_summary_contains_ignores_case() -> None:
    rule = spec(summaryContains="DISK FULL")
    assert rule_matches(rule, payload(summary="disk full on db-1"), NOW)
    assert not rule_matches(rule, payload(summary="disk almost full"), NOW)


def test_summary_regex_searches_case_sensitively() -> None:
    rule = spec(summaryRegex=r"db-\d+$")
    assert rule_matches(rule, payload(summary="Disk full on db-12"), NOW)
    assert not rule_matches(rule, payload(summary="Disk full on DB-12"), NOW)
    assert rule_matches(spec(summaryRegex="(?i)DB-1"), payload(summary="db-1"), NOW)


def test_summary_regex_sees_only_the_start_of_the_summary() -> None:
    rule = spec(summaryRegex="needle")
    head = "x" * (REGEX_SEARCH_CHARS - len("needle"))
    assert rule_matches(rule, payload(summary=head + "needle"), NOW)
    assert not rule_matches(rule, payload(summary=head + "xneedle"), NOW)


def test_custom_details_compare_as_strings() -> None:
    rule = spec(customDetails={"env": "staging", "replicas": 3})
    assert rule_matches(rule, payload(custom_details={"env": "staging", "replicas": "3"}), NOW)
    assert rule_matches(
        rule, payload(custom_details={"env": "staging", "replicas": 3, "x": 1}), NOW
    )
    assert not rule_matches(rule, payload(custom_details={"env": "prod", "replicas": 3}), NOW)
    assert not rule_matches(rule, payload(custom_details={"env": "staging"}), NOW)
    assert not rule_matches(rule, payload(custom_details=None), NOW)


def test_missing_key_never_matches() -> None:
    rule = spec(customDetails={"note": "None"})
    assert not rule_matches(rule, payload(custom_details={}), NOW)
    assert rule_matches(rule, payload(custom_details={"note": None}), NOW)


def test_all_conditions_must_match() -> None:
    rule = spec(source="prometheus", severity="warning", summaryContains="disk")
    assert rule_matches(rule, payload(), NOW)
    assert not rule_matches(rule, payload(severity="critical"), NOW)
    assert not rule_matches(rule, payload(source="nagios"), NOW)
    assert not rule_matches(rule, payload(summary="CPU high"), NOW)


def test_first_matching_rule_keeps_order() -> None:
    rules = [
        ("sup_a", spec(source="nagios")),
        ("sup_b", spec(severity="warning")),
        ("sup_c", spec(summaryContains="disk")),
    ]
    assert first_matching_rule(rules, payload(), NOW) == "sup_b"
    assert (
        first_matching_rule(rules, payload(source="x", severity="info", summary="y"), NOW) is None
    )
    assert first_matching_rule([], payload(), NOW) is None


# --- active windows --------------------------------------------------------------------------


def test_absolute_window_from_inclusive_until_exclusive() -> None:
    start = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
    end = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)
    rule = spec(source="prometheus", activeFrom=start.isoformat(), activeUntil=end.isoformat())
    assert not rule_matches(rule, payload(), start - timedelta(microseconds=1))
    assert rule_matches(rule, payload(), start)
    assert rule_matches(rule, payload(), end - timedelta(microseconds=1))
    assert not rule_matches(rule, payload(), end)


def test_open_ended_windows_and_offsets() -> None:
    only_from = spec(source="prometheus", activeFrom="2026-06-10T14:00:00+02:00")  # 12:00 UTC
    assert rule_matches(only_from, payload(), NOW)
    assert not rule_matches(only_from, payload(), NOW - timedelta(seconds=1))
    only_until = spec(source="prometheus", activeUntil="2026-06-10T12:00:00Z")
    assert not rule_matches(only_until, payload(), NOW)
    assert rule_matches(only_until, payload(), NOW - timedelta(seconds=1))


def weekly(timezone: str, days: list[str], start: str, end: str) -> SuppressionSpec:
    window = {"days": days, "start": start, "end": end}
    return spec(source="prometheus", schedule={"timezone": timezone, "windows": [window]})


def test_weekly_window_same_day() -> None:
    rule = weekly("UTC", ["wed"], "09:00", "17:00")
    assert rule_matches(rule, payload(), datetime(2026, 6, 10, 9, 0, tzinfo=UTC))
    assert rule_matches(rule, payload(), datetime(2026, 6, 10, 16, 59, 59, tzinfo=UTC))
    assert not rule_matches(rule, payload(), datetime(2026, 6, 10, 17, 0, tzinfo=UTC))
    assert not rule_matches(rule, payload(), datetime(2026, 6, 10, 8, 59, 59, tzinfo=UTC))
    assert not rule_matches(rule, payload(), datetime(2026, 6, 11, 12, 0, tzinfo=UTC))  # thu


def test_weekly_window_crossing_midnight() -> None:
    # Friday 22:00 until Saturday 06:00 (the window belongs to the day it starts on).
    rule = weekly("UTC", ["fri"], "22:00", "06:00")
    fri, sat, sun = 12, 13, 14  # June 2026
    assert not rule_matches(rule, payload(), datetime(2026, 6, fri, 21, 59, 59, tzinfo=UTC))
    assert rule_matches(rule, payload(), datetime(2026, 6, fri, 22, 0, tzinfo=UTC))
    assert rule_matches(rule, payload(), datetime(2026, 6, sat, 0, 0, tzinfo=UTC))
    assert rule_matches(rule, payload(), datetime(2026, 6, sat, 5, 59, 59, tzinfo=UTC))
    assert not rule_matches(rule, payload(), datetime(2026, 6, sat, 6, 0, tzinfo=UTC))
    assert not rule_matches(rule, payload(), datetime(2026, 6, sat, 22, 30, tzinfo=UTC))
    assert not rule_matches(rule, payload(), datetime(2026, 6, sun, 1, 0, tzinfo=UTC))
    # Thursday night's early hours are not Friday's window.
    assert not rule_matches(rule, payload(), datetime(2026, 6, fri, 1, 0, tzinfo=UTC))


def test_weekly_window_sunday_night_into_monday() -> None:
    rule = weekly("UTC", ["sun"], "23:00", "01:00")
    assert rule_matches(rule, payload(), datetime(2026, 6, 15, 0, 30, tzinfo=UTC))  # mon
    assert not rule_matches(rule, payload(), datetime(2026, 6, 16, 0, 30, tzinfo=UTC))  # tue


def test_equal_start_and_end_is_a_whole_day() -> None:
    rule = weekly("UTC", ["wed"], "08:00", "08:00")
    assert rule_matches(rule, payload(), datetime(2026, 6, 10, 8, 0, tzinfo=UTC))
    assert rule_matches(rule, payload(), datetime(2026, 6, 11, 7, 59, tzinfo=UTC))
    assert not rule_matches(rule, payload(), datetime(2026, 6, 11, 8, 0, tzinfo=UTC))


def test_weekly_window_follows_local_time_across_dst() -> None:
    # Europe/Berlin springs forward on Sunday 2026-03-29 at 02:00 (UTC+1 -> UTC+2).
    rule = weekly("Europe/Berlin", ["sat", "sun"], "08:00", "09:00")
    # Saturday (CET): 08:00-09:00 local is 07:00-08:00 UTC.
    assert rule_matches(rule, payload(), datetime(2026, 3, 28, 7, 0, tzinfo=UTC))
    assert not rule_matches(rule, payload(), datetime(2026, 3, 28, 6, 30, tzinfo=UTC))
    # Sunday (CEST): 08:00-09:00 local is 06:00-07:00 UTC.
    assert rule_matches(rule, payload(), datetime(2026, 3, 29, 6, 0, tzinfo=UTC))
    assert rule_matches(rule, payload(), datetime(2026, 3, 29, 6, 59, tzinfo=UTC))
    assert not rule_matches(rule, payload(), datetime(2026, 3, 29, 7, 0, tzinfo=UTC))


def test_window_across_the_dst_jump_is_an_hour_shorter() -> None:
    # 01:00-04:00 local on the spring-forward night lasts only two real hours.
    rule = weekly("Europe/Berlin", ["sun"], "01:00", "04:00")
    assert not rule_matches(rule, payload(), datetime(2026, 3, 28, 23, 59, tzinfo=UTC))
    assert rule_matches(rule, payload(), datetime(2026, 3, 29, 0, 0, tzinfo=UTC))  # 01:00 CET
    assert rule_matches(rule, payload(), datetime(2026, 3, 29, 1, 0, tzinfo=UTC))  # 03:00 CEST
    assert not rule_matches(rule, payload(), datetime(2026, 3, 29, 2, 0, tzinfo=UTC))  # 04:00


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        rule_matches(spec(source="x"), payload(), datetime(2026, 6, 10, 12, 0))


# --- validation ------------------------------------------------------------------------------


def test_invalid_regex_is_rejected() -> None:
    assert error_fields({"summaryRegex": "(unclosed"}) == ["summaryRegex"]
    assert error_fields({"summaryRegex": "a" * 501}) == ["summaryRegex"]
    spec(summaryRegex="a" * 500)


def test_invalid_timezone_is_rejected() -> None:
    bad = {
        "timezone": "Mars/Olympus",
        "windows": [{"days": ["mon"], "start": "08:00", "end": "09:00"}],
    }
    assert error_fields({"source": "x", "schedule": bad}) == ["schedule.timezone"]
    bad["timezone"] = "../../etc/passwd"
    assert error_fields({"source": "x", "schedule": bad}) == ["schedule.timezone"]
    bad["timezone"] = "Europe"  # a tzdata folder: zoneinfo raises IsADirectoryError
    assert error_fields({"source": "x", "schedule": bad}) == ["schedule.timezone"]


def test_rule_without_conditions_is_rejected() -> None:
    assert error_fields({}) == [""]
    assert error_fields({"activeFrom": "2026-06-10T12:00:00Z"}) == [""]
    assert error_fields({"customDetails": {}}) == [""]
    assert error_fields({"severity": []}) == ["severity"]
    assert error_fields({"summaryContains": ""}) == ["summaryContains"]


def test_other_invalid_specs() -> None:
    assert error_fields({"source": "x", "activeFrom": "2026-06-10T12:00:00"}) == ["activeFrom"]
    assert error_fields(
        {"source": "x", "activeFrom": "2026-06-10T12:00:00Z", "activeUntil": "2026-06-10T12:00:00Z"}
    ) == ["activeUntil"]
    window = {"days": ["mon"], "start": "08:00", "end": "09:00"}
    assert error_fields(
        {
            "source": "x",
            "activeFrom": "2026-06-10T12:00:00Z",
            "schedule": {"timezone": "UTC", "windows": [window]},
        }
    ) == ["schedule"]
    bad_window = {"days": ["monday"], "start": "8:00", "end": "24:00"}
    assert error_fields(
        {"source": "x", "schedule": {"timezone": "UTC", "windows": [bad_window]}}
    ) == [
        "schedule.windows.0.days.0",
        "schedule.windows.0.start",
        "schedule.windows.0.end",
    ]
    assert error_fields({"severity": "fatal"}) == ["severity.0"]
    assert error_fields({"source": "x", "sourse": "y"}) == ["sourse"]


def test_stored_form_round_trips() -> None:
    rule = spec(
        severity="info",
        summaryRegex="disk",
        schedule={
            "timezone": "Europe/Berlin",
            "windows": [{"days": ["mon"], "start": "22:00", "end": "06:00"}],
        },
    )
    stored = rule.to_json()
    assert stored["severity"] == ["info"]
    assert "source" not in stored
    assert SuppressionSpec.model_validate(stored) == rule
