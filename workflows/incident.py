"""The incident workflow: one run chain per open incident, owner of all its state.

Triggers arrive as signals (through signal-with-start, see docs/architecture.md), acknowledge
and resolve as updates so the caller learns what happened. The read side is written by the
projection activity; the main loop batches everything that changed since the last write.
"""

import json
from collections import deque
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.names import PROJECT_INCIDENT
    from workflows import search_attributes as sa
    from workflows.ids import incident_id
    from workflows.messages import (
        ActionIn,
        ActionResult,
        AlertIn,
        AlertRecord,
        EscalationStatus,
        IncidentSnapshot,
        IncidentStart,
        Projection,
        Status,
        Urgency,
    )
    from workflows.severity import higher_urgency, urgency_for

# Alerts written per projection activity: bounds the activity's payload size in a storm.
MAX_ALERTS_PER_PROJECTION = 200
# Idempotency keys remembered (and carried over continue-as-new) to drop client retries.
REMEMBERED_IDEMPOTENCY_KEYS = 1000
# Patch ids (see docs/architecture.md, "Determinism").
LOCAL_PROJECTION = "projection-as-local-activity"
PROJECTION_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)


def describe(custom_details: dict | None) -> str | None:
    """The incident description: the alert's custom_details as formatted JSON (seed 001)."""
    if not custom_details:
        return None
    return json.dumps(custom_details, indent=2, sort_keys=True, default=str)


@workflow.defn(name="Incident")
class IncidentWorkflow:
    @workflow.init
    def __init__(self, start: IncidentStart) -> None:
        self._service_id = start.service_id
        self._dedup_key = start.dedup_key
        self._incident = start.incident
        self._next_seq = start.next_alert_seq
        self._projected_version = start.projected_version
        self._pending: list[AlertRecord] = []
        self._seen_keys: deque[str] = deque(
            start.recent_idempotency_keys, maxlen=REMEMBERED_IDEMPOTENCY_KEYS
        )

    @workflow.run
    async def run(self, start: IncidentStart) -> IncidentSnapshot | None:
        while True:
            await workflow.wait_condition(
                lambda: self._dirty() or self._resolved() or self._history_is_long()
            )
            if self._dirty():
                await self._project()
                continue
            # Finish (or roll over) only when no update is mid-flight and nothing is unwritten.
            await workflow.wait_condition(workflow.all_handlers_finished)
            if self._dirty():
                continue
            if self._resolved():
                return self._incident
            workflow.continue_as_new(self._carry_over())

    @workflow.signal(name="trigger")
    def trigger(self, alert: AlertIn) -> None:
        if not self._first_sighting(alert.idempotency_key):
            return
        seq = self._next_seq
        self._next_seq += 1
        self._pending.append(
            AlertRecord(
                seq=seq,
                received_at=alert.received_at,
                summary=alert.summary,
                source=alert.source,
                severity=alert.severity,
                payload=alert.payload,
            )
        )
        urgency = urgency_for(alert.severity)
        if self._incident is None:
            self._incident = IncidentSnapshot(
                id=incident_id(workflow.info().first_execution_run_id),
                workflow_id=workflow.info().workflow_id,
                service_id=self._service_id,
                dedup_key=self._dedup_key,
                title=alert.summary,
                description=describe(alert.custom_details),
                status=Status.OPEN,
                urgency=urgency,
                escalation_status=EscalationStatus.ACTIVE,
                alert_count=1,
                created_at=alert.received_at,
                last_alert_at=alert.received_at,
                version=1,
            )
            return
        # A repeated alert deduplicates into the incident whatever its status; the latest
        # alert's summary and details describe it best.
        inc = self._incident
        inc.alert_count += 1
        inc.last_alert_at = max(inc.last_alert_at, alert.received_at)
        inc.title = alert.summary
        inc.description = describe(alert.custom_details) or inc.description
        self._set_urgency(higher_urgency(inc.urgency, urgency))
        inc.version += 1

    @workflow.update(name="acknowledge")
    async def acknowledge(self, request: ActionIn) -> ActionResult:
        inc = self._incident
        if inc is None or inc.status == Status.RESOLVED:
            return ActionResult(action="ignored", incident=inc)
        if inc.status == Status.OPEN:
            inc.acknowledged_at = workflow.now()
            inc.escalation_status = EscalationStatus.COMPLETED
            self._set_status(Status.ACKNOWLEDGED)
        return await self._answer("acknowledged")

    @workflow.update(name="resolve")
    async def resolve(self, request: ActionIn) -> ActionResult:
        inc = self._incident
        if inc is None or inc.status == Status.RESOLVED:
            return ActionResult(action="ignored", incident=inc)
        inc.resolved_at = workflow.now()
        inc.escalation_status = EscalationStatus.COMPLETED
        self._set_status(Status.RESOLVED)
        return await self._answer("resolved")

    @workflow.query(name="incident")
    def current(self) -> IncidentSnapshot | None:
        return self._incident

    async def _answer(self, action: str) -> ActionResult:
        """Reply once the change is on the read side, so a GET right after sees it."""
        assert self._incident is not None
        version = self._incident.version
        await workflow.wait_condition(lambda: self._projected_version >= version)
        return ActionResult.model_validate({"action": action, "incident": self._incident})

    def _set_status(self, status: Status) -> None:
        assert self._incident is not None
        self._incident.status = status
        self._incident.version += 1
        workflow.upsert_search_attributes([sa.STATUS.value_set(status.value)])

    def _set_urgency(self, urgency: Urgency) -> None:
        assert self._incident is not None
        if urgency != self._incident.urgency:
            self._incident.urgency = urgency
            workflow.upsert_search_attributes([sa.URGENCY.value_set(urgency.value)])

    def _first_sighting(self, idempotency_key: str | None) -> bool:
        if idempotency_key is None:
            return True
        if idempotency_key in self._seen_keys:
            return False
        self._seen_keys.append(idempotency_key)
        return True

    def _dirty(self) -> bool:
        return bool(self._pending) or (
            self._incident is not None and self._incident.version > self._projected_version
        )

    def _resolved(self) -> bool:
        return self._incident is not None and self._incident.status == Status.RESOLVED

    def _history_is_long(self) -> bool:
        return workflow.info().is_continue_as_new_suggested()

    async def _project(self) -> None:
        assert self._incident is not None
        batch = self._pending[:MAX_ALERTS_PER_PROJECTION]
        del self._pending[: len(batch)]
        snapshot = self._incident.model_copy()
        projection = Projection(incident=snapshot, alerts=batch)
        if workflow.patched(LOCAL_PROJECTION):
            # A local activity runs inside the workflow task: no activity task round trip
            # through the server, so the read side is written sooner and at half the cost.
            await workflow.execute_local_activity(
                PROJECT_INCIDENT,
                projection,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=PROJECTION_RETRY,
            )
        else:
            await workflow.execute_activity(
                PROJECT_INCIDENT,
                projection,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=PROJECTION_RETRY,
            )
        self._projected_version = max(self._projected_version, snapshot.version)

    def _carry_over(self) -> IncidentStart:
        return IncidentStart(
            service_id=self._service_id,
            dedup_key=self._dedup_key,
            incident=self._incident,
            next_alert_seq=self._next_seq,
            projected_version=self._projected_version,
            recent_idempotency_keys=list(self._seen_keys),
        )
