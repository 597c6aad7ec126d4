"""The Slack rendering of an incident and the slash command's text (pure)."""

import json
from datetime import timedelta

import pytest

from activities.slack_blocks import (
    ACKNOWLEDGE,
    ASSIGN,
    HEADER_MAX,
    MAX_BLOCKS,
    RESOLVE,
    SECTION_TEXT_MAX,
    SNOOZE,
    incident_blocks,
    incident_text,
    reply_text,
)
from tests.slack_support import incident_event
from web.slack_parse import CommandError, SlashCommand, parse_command, parse_duration
from workflows.messages import Status

URL = "https://tocsin.example.com/"


def buttons(blocks: list[dict]) -> list[str]:
    actions = [b for b in blocks if b["type"] == "actions"]
    return [e["action_id"] for a in actions for e in a["elements"]]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Status.OPEN, [ACKNOWLEDGE, RESOLVE, SNOOZE, ASSIGN]),
        (Status.ACKNOWLEDGED, [RESOLVE, SNOOZE, ASSIGN]),
        (Status.SNOOZED, [ACKNOWLEDGE, RESOLVE, ASSIGN]),
        (Status.SUPPRESSED, [ACKNOWLEDGE, RESOLVE, ASSIGN]),
        (Status.RESOLVED, []),
    ],
)
def test_buttons_follow_the_status(status: Status, expected: list[str]) -> None:
    event = incident_event(status)
    blocks = incident_blocks(event, URL)
    assert buttons(blocks) == expected
    for block in blocks:
        for element in block.get("elements", []):
            if element["type"] == "button":
                assert element["value"] == event.incident.id
                styles = {RESOLVE: "danger", ACKNOWLEDGE: "primary"}
                assert element.get("style") == styles.get(element["action_id"])


def test_blocks_show_the_incident_and_who_changed_it() -> None:
    event = incident_event(
        Status.ACKNOWLEDGED, actor="user:usr_1", message="Acknowledged", custom_details={"a": 1}
    )
    blocks = incident_blocks(event, URL)
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "CPU above 90%", "emoji": True},
    }
    rendered = json.dumps(blocks)
    for part in ("Acknowledged", "user:usr_1", "HIGH", "API Gateway", "prometheus", "P1"):
        assert part in rendered
    assert f"https://tocsin.example.com/incidents/{event.incident.id}" in rendered
    assert "a: 1" in rendered
    text = incident_text(event, URL)
    assert text.startswith("[HIGH] Acknowledged: CPU above 90% (API Gateway)")
    assert text.endswith(f"/incidents/{event.incident.id}")


def test_everything_is_cut_to_slacks_limits() -> None:
    details = {f"key{i}": "x" * 500 for i in range(40)} | {"nested": {"a": [1, 2]}}
    event = incident_event(title="T" * 400, custom_details=details, message="m" * 5000)
    blocks = incident_blocks(event, URL)
    assert len(blocks) <= MAX_BLOCKS
    assert len(blocks[0]["text"]["text"]) == HEADER_MAX
    for block in blocks:
        texts = [block.get("text"), *block.get("fields", []), *block.get("elements", [])]
        for text in texts:
            if text and text.get("type") == "mrkdwn":
                assert len(text["text"]) <= SECTION_TEXT_MAX
    details_block = next(b for b in blocks if "Details" in b.get("text", {}).get("text", ""))
    assert details_block["text"]["text"].endswith("…```")


def test_text_is_escaped_for_slack() -> None:
    event = incident_event(title="a <b> & c", custom_details={"q": "<!channel>"})
    rendered = json.dumps(incident_blocks(event, URL))
    assert "<!channel>" not in rendered and "&lt;!channel&gt;" in rendered
    assert "a &lt;b&gt; &amp; c" in incident_text(event, URL)


def test_reply_says_who_resolved() -> None:
    event = incident_event(Status.RESOLVED, actor="slack:alice", message="Resolved")
    assert reply_text(event) == ":white_check_mark: Resolved by slack:alice: Resolved"


@pytest.mark.parametrize(
    ("text", "verb", "target", "argument"),
    [
        ("ack inc_1", "acknowledge", "inc_1", ""),
        ("  Resolve   inc_1 ", "resolve", "inc_1", ""),
        ("snooze inc_1", "snooze", "inc_1", ""),
        ("snooze inc_1 2h", "snooze", "inc_1", "2h"),
        ("note inc_1 rolled back  the deploy", "note", "inc_1", "rolled back  the deploy"),
        ("who Checkout API", "who", "Checkout API", ""),
    ],
)
def test_slash_command_text(text: str, verb: str, target: str, argument: str) -> None:
    assert parse_command(text) == SlashCommand(verb, target, argument)


@pytest.mark.parametrize(
    "text", ["", "dance", "ack", "ack inc_1 extra", "note inc_1", "who", "snooze inc_1 8d"]
)
def test_bad_slash_command_text(text: str) -> None:
    with pytest.raises(CommandError):
        parse_command(text)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("", 60), ("90", 90), ("30m", 30), ("2h", 120), ("1d", 1440), ("1h30m", 90), ("7d", 10080)],
)
def test_snooze_durations(text: str, minutes: int) -> None:
    assert parse_duration(text) == timedelta(minutes=minutes)
