"""Turns accepted events into incident-workflow signals and updates.

A trigger is one SignalWithStart round trip with conflict policy USE_EXISTING: the server
answers ``started`` (a new incident) or not (deduplicated) and the first run id of the chain
(the incident id) without waiting for a worker, and it takes any number of concurrent calls
on one key. Acknowledge and resolve are updates, so their answer says what really happened.
"""

import asyncio
import contextlib
import uuid
from dataclasses import dataclass

from temporalio.api.common.v1 import WorkflowType
from temporalio.api.enums.v1 import WorkflowIdConflictPolicy
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import SignalWithStartWorkflowExecutionRequest
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.converter import encode_search_attributes
from temporalio.service import RPCError, RPCStatusCode

from workflows import search_attributes as sa
from workflows.ids import incident_id, incident_workflow_id
from workflows.messages import ActionIn, ActionResult, AlertIn, IncidentStart, Status
from workflows.severity import urgency_for

_UPDATE_RETRIES = 8
_RUN_CLOSE_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class TriggerOutcome:
    started: bool
    incident_id: str


class IncidentCommands:
    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue

    async def trigger(self, service_id: str, dedup_key: str, alert: AlertIn) -> TriggerOutcome:
        converter = self._client.data_converter
        request = SignalWithStartWorkflowExecutionRequest(
            namespace=self._client.namespace,
            workflow_id=incident_workflow_id(service_id, dedup_key),
            workflow_type=WorkflowType(name="Incident"),
            task_queue=TaskQueue(name=self._task_queue),
            signal_name="trigger",
            identity=self._client.identity,
            request_id=_request_id(service_id, dedup_key, alert.idempotency_key),
            workflow_id_conflict_policy=WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
        )
        request.input.payloads.extend(
            await converter.encode([IncidentStart(service_id=service_id, dedup_key=dedup_key)])
        )
        request.signal_input.payloads.extend(await converter.encode([alert]))
        encode_search_attributes(
            TypedSearchAttributes(
                [
                    SearchAttributePair(sa.SERVICE_ID, service_id),
                    SearchAttributePair(sa.DEDUP_KEY, dedup_key),
                    SearchAttributePair(sa.STATUS, Status.OPEN.value),
                    SearchAttributePair(sa.URGENCY, urgency_for(alert.severity).value),
                ]
            ),
            request.search_attributes,
        )
        response = await self._client.workflow_service.signal_with_start_workflow_execution(
            request, retry=True
        )
        first_run = response.first_execution_run_id or response.run_id
        return TriggerOutcome(started=response.started, incident_id=incident_id(first_run))

    async def act(
        self, service_id: str, dedup_key: str, action: str, request: ActionIn
    ) -> ActionResult:
        """Acknowledge or resolve; ``ignored`` when no incident is open for the key."""
        handle = self._client.get_workflow_handle(incident_workflow_id(service_id, dedup_key))
        for attempt in range(_UPDATE_RETRIES):
            try:
                update = await handle.start_update(
                    action,
                    request,
                    wait_for_stage=WorkflowUpdateStage.COMPLETED,
                    result_type=ActionResult,
                )
                result = await update.result()
                break
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return ActionResult(action="ignored", incident=None)
                # Too many updates in flight on one incident: back off and try again.
                if err.status != RPCStatusCode.RESOURCE_EXHAUSTED or attempt == _UPDATE_RETRIES - 1:
                    raise
                await asyncio.sleep(0.05 * 2**attempt)
            except WorkflowUpdateFailedError:
                return ActionResult(action="ignored", incident=None)
        if result.action == "resolved":
            # The run ends right after a resolve; wait for that so a trigger sent after this
            # answer opens a new incident instead of reaching the finished one.
            run = self._client.get_workflow_handle(handle.id, run_id=update.workflow_run_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.result(follow_runs=False), _RUN_CLOSE_WAIT_SECONDS)
        return result


def _request_id(service_id: str, dedup_key: str, idempotency_key: str | None) -> str:
    """Temporal drops a repeated request id, so a client retry carrying the same
    Idempotency-Key is delivered once."""
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{service_id}\x00{dedup_key}\x00{idempotency_key}"))
