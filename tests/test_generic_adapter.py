"""The generic JSON adapter: JSONPath options, action words, signatures."""

import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.adapter_fuzz import events_or_invalid, json_values, mutations
from web.integrations import generic
from web.integrations.event import InvalidPayload, stable_key

# An uptime checker's webhook, as such tools send them.
CHECK = {
    "check": {"id": "chk_81f2", "name": "api.example.com /health"},
    "state": "DOWN",
    "level": "P1",
    "message": "api.example.com /health returned 503 three times",
    "region": "eu-west-1",
    "checkedAt": "2024-05-01T10:00:00Z",
}
CHECK_CONFIG = {
    "dedupKey": "$.check.id",
    "summary": "$.message",
    "severity": "$.level",
    "action": "$.state",
    "source": "$.region",
    "actionMap": {"down": "trigger", "UP": "resolve"},
}


def config(**options: Any) -> generic.Config:
    return generic.Config.model_validate(options)


def parse(body: Any, options: dict[str, Any] = CHECK_CONFIG) -> list:
    return generic.parse(body, config(**options))


def test_fields_by_path() -> None:
    [event] = parse(CHECK)
    assert (event.action, event.dedup_key, event.severity, event.source) == (
        "trigger",
        "chk_81f2",
        "critical",
        "eu-west-1",
    )
    assert event.summary == CHECK["message"]
    assert event.custom_details == CHECK  # the whole body
    assert event.payload["custom_details"] == CHECK and event.payload["summary"] == event.summary
    [resolved] = parse({**CHECK, "state": "up"})
    assert resolved.action == "resolve"


@pytest.mark.parametrize(
    ("word", "action"),
    [("trigger", "trigger"), ("FIRING", "trigger"), ("alert", "trigger"), ("Problem", "trigger"),
     ("triggered", "trigger"), ("ack", "acknowledge"), ("acknowledged", "acknowledge"),
     ("acknowledge", "acknowledge"), ("resolve", "resolve"), ("Resolved", "resolve"),
     ("OK", "resolve"), ("recovered", "resolve"), (" closed ", "resolve")],
)  # fmt: skip
def test_default_action_words(word: str, action: str) -> None:
    [event] = parse({"id": 1, "status": word}, {"dedupKey": "$.id", "action": "$.status"})
    assert event.action == action


def test_action_map_overrides_defaults_and_unknown_words_are_refused() -> None:
    options = {"dedupKey": "id", "action": "status", "actionMap": {"OK": "trigger"}}
    assert parse({"id": 1, "status": "ok"}, options)[0].action == "trigger"
    with pytest.raises(InvalidPayload, match=r"action \(status\): unknown value 'sideways'"):
        parse({"id": 1, "status": "sideways"}, options)
    with pytest.raises(InvalidPayload, match="unknown value"):
        parse({"id": 1, "status": {"x": 1}}, options)


def test_default_action_when_nothing_found() -> None:
    assert parse({"id": "a"}, {"dedupKey": "$.id"})[0].action == "trigger"
    options = {"dedupKey": "$.id", "action": "$.state", "defaultAction": "resolve"}
    assert parse({"id": "a"}, options)[0].action == "resolve"


def test_fallbacks_and_stringified_keys() -> None:
    [event] = parse({"id": 42}, {"dedupKey": "$.id"})
    assert (event.dedup_key, event.summary, event.source, event.severity) == (
        "42",
        "Alert 42",
        "generic",
        "warning",
    )
    assert parse({"id": 1.5}, {"dedupKey": "$.id"})[0].dedup_key == "1.5"
    assert parse({"id": "k" * 300}, {"dedupKey": "$.id"})[0].dedup_key == stable_key("k" * 300)
    [obj] = parse({"id": 1, "m": {"a": 1}}, {"dedupKey": "$.id", "summary": "$.m"})
    assert obj.summary == '{"a":1}'
    [long] = parse({"id": 1, "m": "x" * 3000}, {"dedupKey": "$.id", "summary": "$.m"})
    assert len(long.summary) == 1024
    [scalar] = parse([{"id": 1}], {"dedupKey": "$[0].id"})
    assert scalar.custom_details == {"body": [{"id": 1}]}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "dedupKey ($.id): found nothing"),
        ({"id": None}, "dedupKey ($.id): found nothing"),
        ({"id": {"a": 1}}, "dedupKey ($.id): must be a non-empty string or number"),
        ({"id": True}, "dedupKey ($.id): must be a non-empty string or number"),
        ({"id": "  "}, "dedupKey ($.id): must be a non-empty string or number"),
        ([], "dedupKey ($.id): found nothing"),
    ],
)
def test_dedup_key_must_be_a_string_or_number(body: Any, error: str) -> None:
    with pytest.raises(InvalidPayload) as err:
        parse(body, {"dedupKey": "$.id"})
    assert err.value.errors == [error]


def test_alerts_path_makes_one_event_per_item() -> None:
    body = {
        "source": "nagios",
        "items": [
            {"host": "db-1", "state": "CRITICAL", "output": "disk 98%", "severity": "crit"},
            {"host": "db-2", "state": "OK", "output": "disk 40%"},
        ],
    }
    options = {
        "alerts": "$.items",
        "dedupKey": "host",
        "summary": "output",
        "severity": "severity",
        "action": "state",
        "actionMap": {"critical": "trigger"},
    }
    a, b = parse(body, options)
    assert (a.dedup_key, a.action, a.severity, a.summary) == (
        "db-1",
        "trigger",
        "critical",
        "disk 98%",
    )
    assert (b.dedup_key, b.action) == ("db-2", "resolve")
    assert a.custom_details == body["items"][0]  # the item, not the whole body
    # ``$.items[*]`` (one match per item) reads the same.
    assert [e.dedup_key for e in parse(body, {**options, "alerts": "$.items[*]"})] == [
        "db-1",
        "db-2",
    ]
    assert parse({"items": []}, options) == []


def test_alerts_errors_name_the_item() -> None:
    body = {"items": [{"host": "ok"}, {"nohost": 1}, {"host": ["x"]}]}
    with pytest.raises(InvalidPayload) as err:
        parse(body, {"alerts": "$.items", "dedupKey": "host"})
    assert err.value.errors == [
        "alerts[1]: dedupKey (host): found nothing",
        "alerts[2]: dedupKey (host): must be a non-empty string or number",
    ]
    with pytest.raises(InvalidPayload, match=r"alerts: \$.nothing matched nothing"):
        parse(body, {"alerts": "$.nothing", "dedupKey": "host"})


def test_filter_expressions() -> None:
    body = {"id": "x", "tags": [{"k": "env", "v": "prod"}, {"k": "sev", "v": "critical"}]}
    [event] = parse(body, {"dedupKey": "$.id", "severity": "$.tags[?(@.k == 'sev')].v"})
    assert event.severity == "critical"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({}, "dedupKey"),
        ({"dedupKey": "$["}, "dedupKey"),
        ({"dedupKey": "$.id", "summary": "a b"}, "summary"),
        ({"dedupKey": "$.id", "alerts": "$..[?(@.x >)]"}, "alerts"),
        ({"dedupKey": "$.id", "actionMap": {"down": "explode"}}, "actionMap.down"),
        ({"dedupKey": "$.id", "defaultAction": "snooze"}, "defaultAction"),
        ({"dedupKey": "$.id", "signatureHeader": "bad header"}, "signatureHeader"),
        ({"dedupKey": "$.id", "unknown": 1}, "unknown"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        generic.Config.model_validate(options)
    assert ".".join(str(p) for p in err.value.errors()[0]["loc"]) == field


def test_options_are_stored_camel_case_with_action_words_lower_case() -> None:
    stored = config(**CHECK_CONFIG).model_dump(mode="json", by_alias=True, exclude_defaults=True)
    assert stored == {**CHECK_CONFIG, "actionMap": {"down": "trigger", "up": "resolve"}}


SECRET = "generic-hmac-secret"
BODY = b'{"id": "x"}'
DIGEST = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()


def test_signature() -> None:
    assert generic.verify({"x-signature": DIGEST}, BODY, SECRET)
    assert generic.verify({"x-signature": f"sha256={DIGEST}"}, BODY, SECRET)
    assert generic.verify({"x-signature": f"SHA256={DIGEST.upper()}"}, BODY, SECRET)
    assert not generic.verify({"x-signature": DIGEST}, BODY + b"\n", SECRET)
    assert not generic.verify({"x-signature": DIGEST}, BODY, "other-secret")
    assert not generic.verify({}, BODY, SECRET)
    assert not generic.verify({"x-signature": "sha256="}, BODY, SECRET)
    assert not generic.verify({"x-signature": "ü" * 64}, BODY, SECRET)
    custom = config(dedupKey="$.id", signatureHeader="X-Hub-Signature-256")
    assert generic.verify({"x-hub-signature-256": f"sha256={DIGEST}"}, BODY, SECRET, custom)
    assert not generic.verify({"x-signature": DIGEST}, BODY, SECRET, custom)


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from(["$.id", "$..id", "$[0]", "id", "$.a[*].b"]))
def test_random_json_gives_events_or_invalid_payload(body: Any, path: str) -> None:
    events_or_invalid(lambda b: parse(b, {"dedupKey": path, "action": "$.state"}), body)
    events_or_invalid(lambda b: parse(b, {"dedupKey": "id", "alerts": path}), body)


@settings(max_examples=300, deadline=None)
@given(mutations(CHECK))
def test_mutated_payloads_give_events_or_invalid_payload(body: Any) -> None:
    events_or_invalid(parse, body)
