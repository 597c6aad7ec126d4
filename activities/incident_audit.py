"""People's incident actions as audit log rows, derived from the workflow's timeline.

The timeline already says who did what, and the projection writes it idempotently; deriving
the audit rows from the same entries in the same transaction (keyed by incident id + seq)
makes each action exactly one row however often the projection is retried or replayed.
Alerts, timers and escalation are not people's actions, and neither is an integration's
event; an API key's or a person's (including in Slack) is.
"""

from typing import Any

from workflows.messages import OPENED_MANUALLY, Status, TimelineEntry

HUMAN_ACTORS = ("user:", "api_key:", "slack:")

_STATUS_ACTIONS = {
    Status.ACKNOWLEDGED.value: "incident.acknowledge",
    Status.RESOLVED.value: "incident.resolve",
    Status.SNOOZED.value: "incident.snooze",
    Status.OPEN.value: "incident.reopen",
}
_FIELD_ACTIONS = {
    "urgency": "incident.urgency",
    "priority": "incident.priority",
    "assignee": "incident.reassign",
}


def audit_rows(incident_id: str, timeline: list[TimelineEntry]) -> list[dict[str, Any]]:
    """Rows for ``audit_entry`` (models/audit.py) of the entries people caused."""
    rows = []
    for entry in timeline:
        if not entry.actor.startswith(HUMAN_ACTORS):
            continue
        described = _describe(entry)
        if described is None:
            continue
        action, before, after = described
        rows.append(
            {
                "at": entry.at,
                "actor": entry.actor,
                "actor_name": None,
                "action": action,
                "target_type": "incident",
                "target_id": incident_id,
                "before": before,
                "after": after,
                "request_id": None,
                "source_key": f"incident:{incident_id}:{entry.seq}",
            }
        )
    return rows


Described = tuple[str, dict[str, Any] | None, dict[str, Any] | None]


def _describe(entry: TimelineEntry) -> Described | None:
    data = entry.data
    if entry.kind == "status":
        if "from" not in data:
            # The first entry of an incident: opened by hand, or by an alert (not an action).
            if entry.message != OPENED_MANUALLY:
                return None
            return "incident.create", None, {"status": data.get("to")}
        after = {"status": data.get("to")}
        if "until" in data:
            after["snoozed_until"] = data["until"]
        action = _STATUS_ACTIONS.get(str(data.get("to")), "incident.status")
        return action, {"status": data["from"]}, after
    if entry.kind in _FIELD_ACTIONS:
        return (
            _FIELD_ACTIONS[entry.kind],
            {entry.kind: data.get("from")},
            {entry.kind: data.get("to")},
        )
    if entry.kind == "note":
        return "incident.note", None, {"note": entry.message}
    if entry.kind == "update":
        notify = bool(data.get("notifySubscribers"))
        return (
            "incident.status_update",
            None,
            {"update": entry.message, "notify_subscribers": notify},
        )
    return None
