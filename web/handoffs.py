"""Handoff notifications: the incoming person hears when their shift starts
(workflows/handoffs.py). The schedules API and UI call ``replan_after_change`` after every
schedule or override change."""

import logging

from temporalio.client import Client
from temporalio.service import RPCError

from web.runtime import runtime
from workflows.handoffs import (
    HANDOFFS_WORKFLOW,
    REPLAN_SIGNAL,
    handoffs_workflow_id,
)
from workflows.notifications import HandoffsIn

log = logging.getLogger("tocsin.web.handoffs")


async def replan_handoffs(client: Client, task_queue: str, schedule_id: str) -> None:
    """Tell the schedule's handoff workflow that the schedule (or its overrides) changed,
    starting it if needed (one signal-with-start: a running workflow is signalled, else a
    new one starts with the signal). Safe to call for a deleted schedule or one without
    handoff notifications: the workflow then ends."""
    await client.start_workflow(
        HANDOFFS_WORKFLOW,
        HandoffsIn(schedule_id=schedule_id),
        id=handoffs_workflow_id(schedule_id),
        task_queue=task_queue,
        start_signal=REPLAN_SIGNAL,
    )


async def replan_after_change(schedule_id: str, handoff_notifications: bool) -> None:
    """Wake the schedule's handoff workflow to plan again. Only schedules with handoff
    notifications need it: a workflow whose schedule was deleted or turned them off finds
    out when it next wakes, and ends without sending. The change is committed already, so
    a Temporal error is logged, not answered as a failed change; the workflow re-reads the
    schedule before every handoff anyway."""
    if not handoff_notifications:
        return
    rt = runtime()
    try:
        await replan_handoffs(rt.client, rt.settings.task_queue, schedule_id)
    except RPCError:
        log.warning("could not wake the handoff workflow of %s", schedule_id, exc_info=True)
