"""``GET /api/priorities``: the priority table of seed 002."""

from typing import Any

from quart import Blueprint
from quart_schema import document_response, tag

from web.incidents import principal_with
from web.schemas import PriorityList, PriorityOut

blueprint = Blueprint("priorities", __name__)

PRIORITIES = [
    PriorityOut(id=p, response_time=t, response_time_minutes=m, use_case=u)
    for p, t, m, u in [
        ("P1", "Immediate", 0, "Production down"),
        ("P2", "< 1 hour", 60, "Major feature broken"),
        ("P3", "< 4 hours", 240, "Degraded performance"),
        ("P4", "< 24 hours", 1440, "Minor issues"),
    ]
]


@blueprint.get("/api/priorities")
@tag(["incidents"])
@document_response(PriorityList, 200)
async def list_priorities() -> dict[str, Any]:
    """Priorities P1 to P4 with their target response times (scope incidents:read)."""
    await principal_with("incidents:read")
    return PriorityList(priorities=PRIORITIES).model_dump(mode="json", by_alias=True)
