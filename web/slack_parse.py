"""The ``/tocsin`` slash command's text and durations. Pure."""

import re
from dataclasses import dataclass
from datetime import timedelta

SNOOZE_DEFAULT = timedelta(hours=1)
SNOOZE_MAX = timedelta(days=7)  # as PATCH /api/incidents/:id allows

USAGE = (
    "Usage: `/tocsin ack <incident id>`, `/tocsin resolve <incident id>`, "
    "`/tocsin snooze <incident id> [30m|2h|1d]`, `/tocsin note <incident id> <text>`, "
    "`/tocsin who <service id or name>`"
)
_VERBS = {"ack": "acknowledge", "acknowledge": "acknowledge", "resolve": "resolve",
          "snooze": "snooze", "note": "note", "who": "who"}  # fmt: skip
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


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
    if text.isdigit():
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
