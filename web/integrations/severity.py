"""Senders' severity words (labels, priorities, levels) to Tocsin's four severities.

The one table every adapter uses (docs/integrations.md prints it); anything not in it is
``warning``. Severity to urgency is a separate, single mapping in workflows/severity.py.
"""

from collections.abc import Iterable

from workflows.messages import Severity

_WORDS: dict[str, Severity] = {
    "critical": "critical",
    "crit": "critical",
    "fatal": "critical",
    "page": "critical",
    "emergency": "critical",
    "disaster": "critical",
    "p1": "critical",
    "sev1": "critical",
    "error": "error",
    "err": "error",
    "high": "error",
    "major": "error",
    "p2": "error",
    "sev2": "error",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "minor": "warning",
    "average": "warning",
    "p3": "warning",
    "sev3": "warning",
    "info": "info",
    "informational": "info",
    "information": "info",
    "low": "info",
    "debug": "info",
    "none": "info",
    "ok": "info",
    "p4": "info",
    "p5": "info",
    "sev4": "info",
}

DEFAULT: Severity = "warning"


def severity_from(word: object) -> Severity:
    return lookup(word) or DEFAULT


def lookup(word: object) -> Severity | None:
    """The severity ``word`` names, or None when the table does not know it: for senders
    whose severity may come from one of several fields, tried in order."""
    if not isinstance(word, str):
        return None
    return _WORDS.get(word.strip().lower())


# Most severe first.
_RANK: tuple[Severity, ...] = ("critical", "error", "warning", "info")


def most_severe(severities: Iterable[Severity], default: Severity = DEFAULT) -> Severity:
    """The worst of several alerts' severities: a group is as severe as its worst member."""
    return min(severities, key=_RANK.index, default=default)
