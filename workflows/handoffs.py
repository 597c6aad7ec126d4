"""Handoff notifications: the person coming on call hears it when their shift starts.

One long-lived workflow per schedule (id ``schedule-handoffs:<schedule id>``), not cron:
it asks an activity for the schedule's next handoff after now (over a bounded look-ahead),
sleeps on a durable timer until then, and tells the incoming people (Slack DM and/or email,
exactly once per schedule, shift start, person and address). Every schedule or override
change signals ``replan`` (web/handoffs.py, signal-with-start), which wakes the timer early
and plans again. With no handoff in the look-ahead it re-plans at its end. It ends when the
schedule is deleted or its handoff notifications are off, and continues as new every
``HANDOFFS_PER_RUN`` handoffs (or when the server suggests it) to keep its history short.
"""

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.names import HANDOFF_NOTICES, PLAN_HANDOFF, SEND_HANDOFF
    from workflows.delivery_plan import BUDGETS
    from workflows.notifications import (
        DeliveryResult,
        HandoffAt,
        HandoffNotice,
        HandoffPlan,
        HandoffPlanIn,
        HandoffsIn,
    )

HANDOFFS_WORKFLOW = "ScheduleHandoffs"
REPLAN_SIGNAL = "replan"
HANDOFFS_PER_RUN = 50
LOOKUP_TIMEOUT = timedelta(seconds=30)
LOOKUP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)


def handoffs_workflow_id(schedule_id: str) -> str:
    return f"schedule-handoffs:{schedule_id}"


@workflow.defn(name=HANDOFFS_WORKFLOW)
class ScheduleHandoffsWorkflow:
    def __init__(self) -> None:
        self._replans = 0
        self._plan: HandoffPlan | None = None

    @workflow.signal(name=REPLAN_SIGNAL)
    def replan(self) -> None:
        """The schedule or its overrides changed."""
        self._replans += 1

    @workflow.query(name="plan")
    def plan(self) -> HandoffPlan | None:
        """The handoff the workflow is waiting for (None before the first plan)."""
        return self._plan

    @workflow.run
    async def run(self, start: HandoffsIn) -> int:
        """The number of handoffs this run notified; returns when the schedule is gone or
        its notifications are off."""
        done = 0
        while True:
            if done >= HANDOFFS_PER_RUN or workflow.info().is_continue_as_new_suggested():
                # A replan signalled meanwhile needs nothing carried over: the next run
                # plans afresh.
                workflow.continue_as_new(start)
            seen = self._replans
            plan: HandoffPlan = await workflow.execute_activity(
                PLAN_HANDOFF,
                HandoffPlanIn(schedule_id=start.schedule_id, after=workflow.now()),
                result_type=HandoffPlan,
                start_to_close_timeout=LOOKUP_TIMEOUT,
                retry_policy=LOOKUP_RETRY,
            )
            if not plan.active:
                return done
            self._plan = plan
            due = plan.at or plan.horizon
            assert due is not None
            left = due - workflow.now()
            if self._replans != seen:
                continue
            if left > timedelta(0):
                try:
                    await workflow.wait_condition(self._replanned_since(seen), timeout=left)
                    continue  # re-planned before it was due
                except TimeoutError:
                    pass
            if plan.at is not None:
                await self._notify(HandoffAt(schedule_id=start.schedule_id, start=plan.at))
                done += 1

    def _replanned_since(self, seen: int) -> Callable[[], bool]:
        return lambda: self._replans != seen

    async def _notify(self, handoff: HandoffAt) -> None:
        notices: list[HandoffNotice] = await workflow.execute_activity(
            HANDOFF_NOTICES,
            handoff,
            result_type=list[HandoffNotice],
            start_to_close_timeout=LOOKUP_TIMEOUT,
            retry_policy=LOOKUP_RETRY,
        )
        await asyncio.gather(*(self._send(n) for n in notices))

    async def _send(self, notice: HandoffNotice) -> DeliveryResult:
        budget = BUDGETS[notice.channel]
        try:
            result: DeliveryResult = await workflow.execute_activity(
                SEND_HANDOFF,
                notice,
                result_type=DeliveryResult,
                start_to_close_timeout=budget.attempt_timeout,
                retry_policy=budget.retry,
            )
        except ActivityError as err:  # the activity records final failures itself
            workflow.logger.warning("handoff %s failed: %s", notice.key, err.cause or err)
            return DeliveryResult(key=notice.key, status="failed", detail=str(err.cause or err))
        return result
