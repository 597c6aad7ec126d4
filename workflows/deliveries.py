"""Deliveries left over when an incident closes, finished by a child workflow.

The incident's run must close as soon as it is resolved (a new trigger on the same dedup
key then opens a new incident), but a resolve's Slack update or a webhook that is still
retrying must not be lost. The incident hands them here (parent close policy ABANDON):
Slack in order (an UPDATE/REPLY without ``slack_ts`` refers to the ANNOUNCE before it),
the rest at once.
"""

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.names import CLOSE_INCIDENT_ROOM, DELIVER
    from workflows.delivery_plan import BUDGETS
    from workflows.notifications import Channel, Delivery, DeliveryResult, Handoff, Purpose


async def deliver(delivery: Delivery) -> DeliveryResult:
    """Send through the deliver activity with the channel's retry budget; a delivery that
    finally fails is a result, never an exception (workflow code: the incident workflow's
    notifier and the Deliveries workflow share it)."""
    budget = BUDGETS[delivery.channel]
    try:
        result: DeliveryResult = await workflow.execute_activity(
            DELIVER,
            delivery,
            result_type=DeliveryResult,
            start_to_close_timeout=budget.attempt_timeout,
            retry_policy=budget.retry,
        )
    except ActivityError as err:
        return DeliveryResult(key=delivery.key, status="failed", detail=str(err.cause or err))
    return result


@workflow.defn(name="Deliveries")
class DeliveriesWorkflow:
    @workflow.run
    async def run(self, handoff: Handoff) -> list[DeliveryResult]:
        slack = [d for d in handoff.deliveries if d.channel == Channel.SLACK]
        others = [d for d in handoff.deliveries if d.channel != Channel.SLACK]
        rest = asyncio.gather(*(deliver(d) for d in others))
        in_order = await self._slack_in_order(slack)
        if handoff.close_room is not None:  # archived once its last message shows RESOLVED
            try:
                await workflow.execute_activity(
                    CLOSE_INCIDENT_ROOM,
                    handoff.close_room,
                    start_to_close_timeout=BUDGETS[Channel.SLACK].attempt_timeout,
                    retry_policy=BUDGETS[Channel.SLACK].retry,
                )
            except ActivityError:
                workflow.logger.warning("could not archive %s", handoff.close_room.channel)
        return in_order + list(await rest)

    async def _slack_in_order(self, deliveries: list[Delivery]) -> list[DeliveryResult]:
        out: list[DeliveryResult] = []
        announced: DeliveryResult | None = None
        for delivery in deliveries:
            if delivery.purpose in (Purpose.UPDATE, Purpose.REPLY) and not delivery.slack_ts:
                if announced is None or not announced.slack_ts:
                    continue  # the announcement was never posted: nothing to update
                delivery = delivery.model_copy(
                    update={
                        "address": announced.slack_channel,
                        "slack_channel": announced.slack_channel,
                        "slack_ts": announced.slack_ts,
                    }
                )
            result = await deliver(delivery)
            if delivery.purpose == Purpose.ANNOUNCE:
                announced = result
            out.append(result)
        return out
