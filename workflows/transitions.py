"""Which status changes a person may ask for (PATCH /api/incidents/:id). Pure, no Temporal."""

from workflows.messages import Status

# RESOLVED is final. Asking for the current status is allowed and changes nothing (except
# SNOOZED → SNOOZED, which moves the expiry).
ALLOWED: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.ACKNOWLEDGED, Status.RESOLVED, Status.SNOOZED}),
    Status.ACKNOWLEDGED: frozenset({Status.OPEN, Status.RESOLVED, Status.SNOOZED}),
    Status.SNOOZED: frozenset({Status.OPEN, Status.ACKNOWLEDGED, Status.RESOLVED}),
    Status.SUPPRESSED: frozenset({Status.OPEN, Status.ACKNOWLEDGED, Status.RESOLVED}),
    Status.RESOLVED: frozenset(),
}


class InvalidTransition(ValueError):
    pass


def check_transition(current: Status, target: Status) -> None:
    if current == Status.RESOLVED:
        raise InvalidTransition("incident is resolved; RESOLVED is final")
    if target != current and target not in ALLOWED[current]:
        raise InvalidTransition(f"cannot change status from {current} to {target}")
