"""The one place that maps an alert's severity to an incident's urgency (seed 001)."""

from workflows.messages import Severity, Urgency

URGENCY_BY_SEVERITY: dict[Severity, Urgency] = {
    "critical": Urgency.HIGH,
    "error": Urgency.MEDIUM,
    # Warnings page as MEDIUM, not LOW, so they are not missed (seed 001's note).
    "warning": Urgency.MEDIUM,
    "info": Urgency.LOW,
}

_RANK = {Urgency.LOW: 0, Urgency.MEDIUM: 1, Urgency.HIGH: 2}


def urgency_for(severity: Severity) -> Urgency:
    return URGENCY_BY_SEVERITY[severity]


def higher_urgency(a: Urgency, b: Urgency) -> Urgency:
    """A deduplicated alert may raise an incident's urgency, never lower it."""
    return a if _RANK[a] >= _RANK[b] else b
