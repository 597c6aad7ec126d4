"""Handoff notifications: the incoming person hears when their shift starts
(workflows/handoffs.py). The schedules API calls ``replan_handoffs`` after every schedule or
override change."""

from temporalio.client import Client

from workflows.handoffs import (
    HANDOFFS_WORKFLOW,
    REPLAN_SIGNAL,
    handoffs_workflow_id,
)
from workflows.notifications import HandoffsIn


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
