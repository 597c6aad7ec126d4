"""The email a delivery becomes (pure): subject, plain text with an HTML alternative.

The Message-ID is derived from the delivery key, so the mail a retry resends after a crash
carries the same id and mail clients thread or collapse the duplicate (docs/email.md).
"""

import hashlib
import json
from email.message import EmailMessage
from email.utils import format_datetime
from html import escape
from typing import Any

from activities.links import incident_url
from workflows.notifications import Delivery, EventType

VERBS = {
    EventType.TRIGGERED: "triggered",
    EventType.ACKNOWLEDGED: "acknowledged",
    EventType.RESOLVED: "resolved",
    EventType.SNOOZED: "snoozed",
    EventType.REOPENED: "reopened",
    EventType.ESCALATED: "escalated",
    EventType.UPDATED: "updated",
    EventType.ANNOTATED: "note added",
}


def message_id(key: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@tocsin>"


def subject(delivery: Delivery) -> str:
    incident = delivery.event.incident
    verb = VERBS.get(delivery.event.type, delivery.event.type.value)
    return _one_line(f"[Tocsin] [{incident.urgency.value}] {incident.title} — {verb}")


def compose(delivery: Delivery, sender: str, public_url: str) -> EmailMessage:
    event = delivery.event
    incident = event.incident
    link = incident_url(public_url, incident.id)
    rows = _rows(delivery)

    message = EmailMessage()
    message["From"] = sender
    message["To"] = delivery.address
    message["Subject"] = subject(delivery)
    message["Message-ID"] = message_id(delivery.key)
    message["Date"] = format_datetime(event.at)
    message["X-Tocsin-Incident"] = incident.id
    message["X-Tocsin-Delivery"] = _one_line(delivery.key)

    text = [incident.title, "", event.message, ""]
    text += [f"{name}: {value}" for name, value in rows]
    text += ["", f"Open the incident: {link}", ""]
    message.set_content("\n".join(text))

    cells = "".join(
        f"<tr><th align=left>{escape(name)}</th><td>{_html_value(value)}</td></tr>"
        for name, value in rows
    )
    html = (
        "<!doctype html><html><body>"
        f"<h2>{escape(incident.title)}</h2>"
        f"<p>{escape(event.message)}</p>"
        f"<table>{cells}</table>"
        f'<p><a href="{escape(link, quote=True)}">Open the incident</a></p>'
        "</body></html>"
    )
    message.add_alternative(html, subtype="html")
    return message


def _rows(delivery: Delivery) -> list[tuple[str, str]]:
    event = delivery.event
    incident = event.incident
    rows = [
        ("Status", incident.status.value),
        ("Urgency", incident.urgency.value),
    ]
    if incident.priority:
        rows.append(("Priority", incident.priority))
    rows.append(("Service", event.service_name or incident.service_id))
    if event.source:
        rows.append(("Source", event.source))
    rows.append(("Alerts", str(incident.alert_count)))
    for name, value in (event.custom_details or {}).items():
        rows.append((str(name), _detail(value)))
    return rows


def _detail(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _html_value(value: str) -> str:
    return escape(value).replace("\n", "<br>")


def _one_line(value: str) -> str:
    """Headers cannot hold line breaks (a title with one would be refused or inject headers)."""
    return " ".join(value.split())
