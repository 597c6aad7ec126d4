"""Handoff notifications: the incoming person hears when their shift starts.

(Being written: one long-lived workflow per schedule, signalled to re-plan whenever the
schedule changes. The API calls ``replan_handoffs`` after every schedule or override
change; until then it does nothing.)
"""

from temporalio.client import Client


async def replan_handoffs(client: Client, task_queue: str, schedule_id: str) -> None:
    """Tell the schedule's handoff workflow that the schedule (or its overrides) changed,
    starting it if needed. Safe to call for a deleted schedule or one without handoff
    notifications: the workflow then ends."""
    return None
