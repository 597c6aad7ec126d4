"""The least a workflow can do for an alert, so the ceilings measure Temporal and the SDK
rather than Tocsin: take the trigger (as a signal or an update) and finish.

Registered under the incident workflow's type name, so ``IncidentCommands.trigger``'s own
request starts it. Only temporalio is imported, so each run's sandbox is cheap.
"""

from typing import Any

from temporalio import workflow


@workflow.defn(name="Incident")
class BareIncident:
    def __init__(self) -> None:
        self.alerts = 0

    @workflow.run
    async def run(self, start: dict[str, Any]) -> int:
        await workflow.wait_condition(lambda: self.alerts > 0)
        return self.alerts

    @workflow.signal(name="triggers")
    def triggers(self, alerts: list[dict[str, Any]]) -> None:
        self.alerts += len(alerts)

    @workflow.signal(name="trigger")
    def trigger(self, alert: dict[str, Any]) -> None:
        self.alerts += 1

    @workflow.update(name="trigger_update")
    def trigger_update(self, alert: dict[str, Any]) -> int:
        self.alerts += 1
        return self.alerts
