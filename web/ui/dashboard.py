"""The dashboard: open incidents by urgency, MTTA/MTTR over the last 7 and 30 days."""

from typing import Any

from quart import render_template

from web.runtime import runtime
from web.ui import ui_blueprint
from web.ui.auth import page, principal
from web.ui.queries import open_by_urgency, response_times

blueprint = ui_blueprint("ui_dashboard", __name__)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


@blueprint.get("/dashboard")
@page
async def dashboard() -> Any:
    who = principal()
    who.require_scope("incidents:read")
    engine = runtime().engine
    return await render_template(
        "dashboard.html",
        open_counts=await open_by_urgency(engine, who.service_ids),
        periods=[await response_times(engine, d, who.service_ids) for d in (7, 30)],
        duration=duration,
    )
