"""The ``/tocsin`` slash command's text and durations, and the buttons of an interaction
payload. Pure."""

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

SNOOZE_DEFAULT = timedelta(hours=1)
SNOOZE_MAX = timedelta(days=7)  # as PATCH /api/incidents/:id allows

USAGE = (
    "Usage: `/tocsin ack <incident id>`, `/tocsin resolve <incident id>`, "
    "`/tocsin snooze <incident id> [30m|2h|1d]`, `/tocsin note <incident id> <text>`, "
    "`/tocsin who <service id or name>`"
)
_VERBS = {"ack": "acknowledge", "acknowledge": "acknowledge", "resolve": "resolve",
          "snooze": "snooze", "note": "note", "who": "who"}  # fmt: skip
# ASCII digits, few enough that any match fits a timedelta (the range check comes after).
_DURATION = re.compile(r"^(?:([0-9]{1,6})d)?(?:([0-9]{1,6})h)?(?:([0-9]{1,6})m)?$")
_MINUTES = re.compile(r"^[0-9]{1,9}$")


class CommandError(ValueError):
    """Text that is not a command; the message is shown to the person who typed it."""


@dataclass(frozen=True)
class SlashCommand:
    verb: str  # acknowledge, resolve, snooze, note, who
    target: str  # an incident id, or for ``who`` a service id or name
    argument: str = ""


def parse_command(text: str) -> SlashCommand:
    words = text.strip().split(maxsplit=2)
    if not words or words[0].lower() not in _VERBS:
        raise CommandError(USAGE)
    verb = _VERBS[words[0].lower()]
    if verb == "who":
        target = text.strip().split(maxsplit=1)[1:]
        if not target:
            raise CommandError("Usage: `/tocsin who <service id or name>`")
        return SlashCommand(verb, target[0].strip())
    if len(words) < 2:
        raise CommandError(f"Which incident? `/tocsin {words[0]} <incident id>`")
    argument = words[2].strip() if len(words) > 2 else ""
    if verb == "note" and not argument:
        raise CommandError("Usage: `/tocsin note <incident id> <text>`")
    if verb in ("acknowledge", "resolve") and argument:
        raise CommandError(USAGE)
    if verb == "snooze":
        parse_duration(argument)  # reject bad input before anything runs
    return SlashCommand(verb, words[1], argument)


def parse_duration(text: str) -> timedelta:
    """``90`` (minutes), ``30m``, ``2h``, ``1d``, ``1h30m``; empty means an hour."""
    text = text.strip().lower()
    if not text:
        return SNOOZE_DEFAULT
    if _MINUTES.match(text):
        duration = timedelta(minutes=int(text))
    else:
        match = _DURATION.match(text)
        if match is None or not any(match.groups()):
            raise CommandError(f"Not a duration: {text} (try 30m, 2h or 1d)")
        days, hours, minutes = (int(g or 0) for g in match.groups())
        duration = timedelta(days=days, hours=hours, minutes=minutes)
    if not timedelta(minutes=1) <= duration <= SNOOZE_MAX:
        raise CommandError("A snooze is between 1 minute and 7 days")
    return duration


@dataclass(frozen=True)
class Interaction:
    """Who clicked (Slack user id and name), where to answer, and the buttons as
    (action_id, value) pairs."""

    user_id: str
    username: str
    response_url: str | None
    actions: list[tuple[str, str]] = field(default_factory=list)


def parse_interaction(payload: Any) -> Interaction | None:
    """A ``block_actions`` payload, or None for any other; parts not shaped as Slack sends
    them are skipped rather than failing the request."""
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    user = payload.get("user")
    user = user if isinstance(user, dict) else {}
    name = user.get("username") or user.get("name") or user.get("id") or "unknown"
    response_url = payload.get("response_url")
    actions = payload.get("actions")
    return Interaction(
        user_id=str(user.get("id", "")),
        username=str(name),
        response_url=response_url if isinstance(response_url, str) else None,
        actions=[
            (str(a.get("action_id", "")), str(a.get("value", "")))
            for a in (actions if isinstance(actions, list) else [])
            if isinstance(a, dict)
        ],
    )
