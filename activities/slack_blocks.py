"""The Slack message for an incident: Block Kit blocks and the plain-text fallback. Pure.

One rendering for every Slack message an incident posts (the DMs of a page and the service
channel's announcement), so each state change can rewrite all of them in place with
``chat.update``. Slack rejects a message over its limits (``invalid_blocks``,
``msg_too_long``) rather than cutting it, so every piece is truncated here.
"""

import json
from datetime import datetime
from typing import Any

from workflows.messages import Status
from workflows.notifications import IncidentEvent

# Slack's documented limits (api.slack.com/reference/block-kit/blocks).
HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_MAX = 2000
CONTEXT_TEXT_MAX = 3000
MAX_BLOCKS = 50
BUTTON_VALUE_MAX = 2000
# The fallback text shows in notifications and screen readers; keep it to one screen.
TEXT_MAX = 3000

ACKNOWLEDGE = "tocsin.acknowledge"
RESOLVE = "tocsin.resolve"
SNOOZE = "tocsin.snooze"
ASSIGN = "tocsin.assign"

_BUTTONS: dict[str, tuple[str, str | None]] = {
    ACKNOWLEDGE: ("Acknowledge", "primary"),
    RESOLVE: ("Resolve", "danger"),
    SNOOZE: ("Snooze 1h", None),
    ASSIGN: ("Assign to me", None),
}

# What a person can still do from the message, per status. Asking for the current status
# again is harmless (a double click), but a button for it would only confuse.
ACTIONS: dict[Status, tuple[str, ...]] = {
    Status.OPEN: (ACKNOWLEDGE, RESOLVE, SNOOZE, ASSIGN),
    Status.ACKNOWLEDGED: (RESOLVE, SNOOZE, ASSIGN),
    Status.SNOOZED: (ACKNOWLEDGE, RESOLVE, ASSIGN),
    Status.SUPPRESSED: (ACKNOWLEDGE, RESOLVE, ASSIGN),
    Status.RESOLVED: (),
}

_STATUS_LABEL = {
    Status.OPEN: ":red_circle: Open",
    Status.ACKNOWLEDGED: ":large_yellow_circle: Acknowledged",
    Status.SNOOZED: ":zzz: Snoozed",
    Status.SUPPRESSED: ":mute: Suppressed",
    Status.RESOLVED: ":white_check_mark: Resolved",
}


def incident_url(public_url: str, incident_id: str) -> str:
    return f"{public_url.rstrip('/')}/incidents/{incident_id}"


def incident_blocks(event: IncidentEvent, public_url: str) -> list[dict[str, Any]]:
    inc = event.incident
    url = incident_url(public_url, inc.id)
    fields = [
        ("Status", _status_text(event)),
        ("Urgency", inc.urgency.value),
        ("Service", escape(event.service_name or inc.service_id)),
    ]
    if event.source:
        fields.append(("Source", escape(event.source)))
    if inc.priority:
        fields.append(("Priority", escape(inc.priority)))
    if inc.assignee_id:
        fields.append(("Assignee", escape(inc.assignee_id)))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(inc.title, HEADER_MAX)},
        {
            "type": "section",
            "fields": [_mrkdwn(f"*{name}*\n{value}", FIELD_MAX) for name, value in fields],
        },
    ]
    if event.message or event.actor:
        blocks.append(
            {
                "type": "context",
                "elements": [_mrkdwn(_who_did_it(event), CONTEXT_TEXT_MAX)],
            }
        )
    if details := details_text(event.custom_details):
        blocks.append({"type": "section", "text": _mrkdwn(details, SECTION_TEXT_MAX)})
    blocks.append(
        {
            "type": "section",
            "text": _mrkdwn(f"<{url}|Open {escape(inc.id)} in Tocsin>", SECTION_TEXT_MAX),
        }
    )
    buttons = [_button(action, inc.id) for action in ACTIONS[inc.status]]
    if buttons:
        blocks.append({"type": "actions", "block_id": "tocsin.actions", "elements": buttons})
    return blocks[:MAX_BLOCKS]


def incident_text(event: IncidentEvent, public_url: str) -> str:
    """The fallback ``text``: what notifications, screen readers and old clients show."""
    inc = event.incident
    service = event.service_name or inc.service_id
    text = (
        f"[{inc.urgency.value}] {inc.status.value.capitalize()}: {inc.title} ({service}) "
        f"{incident_url(public_url, inc.id)}"
    )
    return truncate(escape(text), TEXT_MAX)


def reply_text(event: IncidentEvent) -> str:
    """The thread reply when an incident is resolved."""
    text = f":white_check_mark: Resolved by {escape(event.actor or 'unknown')}"
    if event.message:
        text += f": {escape(event.message)}"
    return truncate(text, TEXT_MAX)


def details_text(details: dict[str, Any] | None) -> str | None:
    """``custom_details`` as compact ``key: value`` lines in a code block."""
    if not details:
        return None
    lines = [f"{key}: {_compact(value)}" for key, value in details.items()]
    body = truncate(escape("\n".join(lines)), SECTION_TEXT_MAX - len("*Details*\n``````"))
    return f"*Details*\n```{body}```"


def escape(text: str) -> str:
    """Slack's three control characters in mrkdwn and plain text (Slack's formatting guide)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _status_text(event: IncidentEvent) -> str:
    inc = event.incident
    text = _STATUS_LABEL[inc.status]
    if inc.status == Status.SNOOZED and inc.snoozed_until is not None:
        text += f" until {_date(inc.snoozed_until)}"
    return text


def _who_did_it(event: IncidentEvent) -> str:
    parts = [escape(event.message)] if event.message else []
    if event.actor:
        parts.append(f"by {escape(event.actor)}")
    parts.append(_date(event.at))
    return " · ".join(parts)


def _date(at: datetime) -> str:
    """Slack shows the reader's local time; the fallback after ``|`` is UTC."""
    fallback = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit) or " ", "emoji": True}


def _mrkdwn(text: str, limit: int) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": truncate(text, limit)}


def _button(action_id: str, incident_id: str) -> dict[str, Any]:
    label, style = _BUTTONS[action_id]
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
        "value": incident_id[:BUTTON_VALUE_MAX],
    }
    if style is not None:
        button["style"] = style
    return button
