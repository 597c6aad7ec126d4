"""``GET /api/incidents/<id>/notifications``: every delivery of an incident, with attempts."""

from typing import Any

from quart import Blueprint
from quart_schema import document_response, tag
from sqlmodel import col, select

from models import Notification, NotificationAttempt
from models.db import session_scope
from web.errors import error_responses
from web.incidents import accessible_incident, principal_with
from web.runtime import runtime
from web.schemas import DeliveryAttemptOut, DeliveryList, DeliveryOut

blueprint = Blueprint("notifications", __name__)
MAX_DELIVERIES = 1000


@blueprint.get("/api/incidents/<incident_id>/notifications")
@tag(["incidents"])
@document_response(DeliveryList, 200)
@error_responses(401, 403, 404)
async def notifications_route(incident_id: str) -> dict[str, Any]:
    """Pages, Slack messages, webhooks and emails sent for the incident, oldest first, each
    with its attempts (scope incidents:read)."""
    principal = await principal_with("incidents:read")
    incident, _ = await accessible_incident(principal, incident_id)
    async with session_scope(runtime().engine) as session:
        rows = (
            await session.exec(
                select(Notification)
                .where(Notification.incident_id == incident.id)
                .order_by(col(Notification.created_at), col(Notification.key))
                .limit(MAX_DELIVERIES)
            )
        ).all()
        keys = [r.key for r in rows]
        attempts = (
            await session.exec(
                select(NotificationAttempt)
                .where(col(NotificationAttempt.key).in_(keys))
                .order_by(col(NotificationAttempt.attempt))
            )
        ).all()
    by_key: dict[str, list[DeliveryAttemptOut]] = {}
    for a in attempts:
        by_key.setdefault(a.key, []).append(
            DeliveryAttemptOut.model_validate(a, from_attributes=True)
        )
    out = [
        DeliveryOut.model_validate({**r.model_dump(), "attempts": by_key.get(r.key, [])})
        for r in rows
    ]
    return DeliveryList(notifications=out).model_dump(mode="json", by_alias=True)
