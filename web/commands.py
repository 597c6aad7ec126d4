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
from datetime import timedelta
from typing import TypeVar

from pydantic import BaseModel
from temporalio.api.common.v1 import Payload, WorkflowType
from temporalio.api.enums.v1 import WorkflowIdConflictPolicy
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import SignalWithStartWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.converter import encode_search_attributes
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from web.trigger_batching import Batch, TriggerBatcher
from workflows import search_attributes as sa
from workflows.ids import first_run_id, incident_id, incident_workflow_id
from workflows.messages import (
    ActionIn,
    ActionResult,
    AlertIn,
    ChangeIn,
    IncidentStart,
    ManualOpenIn,
    NoteIn,
    Status,
    TimelineEntry,
    Urgency,
)
from workflows.severity import urgency_for

_UPDATE_RETRIES = 8
R = TypeVar("R", bound=BaseModel)
_RETRYABLE = (RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.FAILED_PRECONDITION)
_RUN_CLOSE_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class TriggerOutcome:
    started: bool
    incident_id: str


class IncidentClosed(Exception):
    """The incident's workflow has finished (it was resolved) or never existed."""


class WorkerUnavailable(Exception):
    """No worker answered the incident's update in time (none polls its task queue, or all
    are down or swamped). The update stays admitted and may still apply later."""


class CommandRejected(Exception):
    """The workflow's update validator refused the change (``code`` is stable)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class IncidentCommands:
    def __init__(
        self, client: Client, task_queue: str, *, update_wait_seconds: float = 30.0
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._update_wait = timedelta(seconds=update_wait_seconds)
        self._batcher: TriggerBatcher[TriggerOutcome] = TriggerBatcher(client.data_converter)

    async def trigger(self, service_id: str, dedup_key: str, alert: AlertIn) -> TriggerOutcome:
        """Deliver one alert; concurrent alerts for the same incident share one call
        (web/trigger_batching.py)."""
        workflow_id = incident_workflow_id(service_id, dedup_key)

        async def send(batch: Batch) -> TriggerOutcome:
            return await self._signal_with_start(
                service_id,
                dedup_key,
                "triggers",
                batch.payload,
                status=Status.SUPPRESSED if batch.first.suppressed_by else Status.OPEN,
                urgency=urgency_for(batch.first.severity),
                # A lone alert keeps its retry-safe request id; in a batch the workflow
                # drops repeated idempotency keys itself.
                request_id=_request_id(service_id, dedup_key, batch.first.idempotency_key)
                if batch.size == 1
                else str(uuid.uuid4()),
            )

        outcome, position = await self._batcher.submit(workflow_id, alert, send)
        # Only the batch's first alert can have opened the incident.
        return TriggerOutcome(
            started=outcome.started and position == 0, incident_id=outcome.incident_id
        )

    async def open_manual(self, service_id: str, request: ManualOpenIn) -> TriggerOutcome:
        """A person's incident: a workflow like a trigger's, under a generated dedup key."""
        (argument,) = await self._client.data_converter.encode([request])
        return await self._signal_with_start(
            service_id,
            f"manual-{uuid.uuid4().hex}",
            "open",
            argument,
            status=Status.OPEN,
            urgency=request.urgency,
            request_id=str(uuid.uuid4()),
        )

    async def act(
        self, service_id: str, dedup_key: str, action: str, request: ActionIn
    ) -> ActionResult:
        """Acknowledge or resolve; ``ignored`` when no incident is open for the key."""
        handle = self._client.get_workflow_handle(incident_workflow_id(service_id, dedup_key))
        try:
            result, run_id = await self._update(handle, action, request, ActionResult)
        except (IncidentClosed, CommandRejected):
            return ActionResult(action="ignored", incident=None)
        if result.action == "resolved":
            await self._wait_closed(handle.id, run_id)
        return result

    async def change(self, workflow_id: str, incident_id: str, request: ChangeIn) -> ActionResult:
        """Apply a PATCH to exactly this incident (not a later one reusing its dedup key)."""
        handle = self._incident_handle(workflow_id, incident_id)
        result, run_id = await self._update(handle, "change", request, ActionResult)
        if result.incident is not None and result.incident.status == Status.RESOLVED:
            await self._wait_closed(workflow_id, run_id)
        return result

    async def note(self, workflow_id: str, incident_id: str, request: NoteIn) -> TimelineEntry:
        handle = self._incident_handle(workflow_id, incident_id)
        entry, _ = await self._update(handle, "note", request, TimelineEntry)
        return entry

    async def open_dedup_keys(self, service_id: str) -> set[str]:
        """Dedup keys of the service's running incident workflows, from Temporal's
        visibility: it also knows incidents accepted moments ago that the read side has not
        written yet."""
        query = (
            f"WorkflowType = 'Incident' AND ExecutionStatus = 'Running' "
            f"AND {sa.SERVICE_ID.name} = '{_quoted(service_id)}'"
        )
        keys: set[str] = set()
        async for execution in self._client.list_workflows(query):
            key = execution.typed_search_attributes.get(sa.DEDUP_KEY)
            if key is not None:
                keys.add(key)
        return keys

    def _incident_handle(self, workflow_id: str, incident: str) -> WorkflowHandle:
        try:
            run = first_run_id(incident)
        except ValueError as err:  # a row no workflow run wrote (loaded by hand): none to ask
            raise IncidentClosed from err
        return self._client.get_workflow_handle(workflow_id, first_execution_run_id=run)

    async def _signal_with_start(
        self,
        service_id: str,
        dedup_key: str,
        signal: str,
        argument: Payload,
        *,
        status: Status,
        urgency: Urgency,
        request_id: str,
    ) -> TriggerOutcome:
        converter = self._client.data_converter
        request = SignalWithStartWorkflowExecutionRequest(
            namespace=self._client.namespace,
            workflow_id=incident_workflow_id(service_id, dedup_key),
            workflow_type=WorkflowType(name="Incident"),
            task_queue=TaskQueue(name=self._task_queue),
            signal_name=signal,
            identity=self._client.identity,
            request_id=request_id,
            workflow_id_conflict_policy=WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
        )
        request.input.payloads.extend(
            await converter.encode([IncidentStart(service_id=service_id, dedup_key=dedup_key)])
        )
        request.signal_input.payloads.append(argument)
        encode_search_attributes(
            TypedSearchAttributes(
                [
                    SearchAttributePair(sa.SERVICE_ID, service_id),
                    SearchAttributePair(sa.DEDUP_KEY, dedup_key),
                    SearchAttributePair(sa.STATUS, status.value),
                    SearchAttributePair(sa.URGENCY, urgency.value),
                ]
            ),
            request.search_attributes,
        )
        response = await self._client.workflow_service.signal_with_start_workflow_execution(
            request, retry=True
        )
        first_run = response.first_execution_run_id or response.run_id
        return TriggerOutcome(started=response.started, incident_id=incident_id(first_run))

    async def _update(
        self, handle: WorkflowHandle, name: str, argument: BaseModel, result_type: type[R]
    ) -> tuple[R, str | None]:
        """Run an update to completion; returns its result and the run that answered.
        An update needs a worker: without one it would wait for ever, so it is bounded."""
        for attempt in range(_UPDATE_RETRIES):
            try:
                update = await handle.start_update(
                    name,
                    argument,
                    wait_for_stage=WorkflowUpdateStage.COMPLETED,
                    result_type=result_type,
                    rpc_timeout=self._update_wait,
                )
                return await update.result(), update.workflow_run_id
            except WorkflowUpdateRPCTimeoutOrCancelledError as err:
                raise WorkerUnavailable(
                    f"no worker answered within {self._update_wait.total_seconds():.0f} s"
                ) from err
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    raise IncidentClosed from err
                # Too many updates in flight on one incident, or the run is between workflow
                # tasks (e.g. rolling over with continue-as-new): back off and try again.
                if err.status not in _RETRYABLE or attempt == _UPDATE_RETRIES - 1:
                    raise
                await asyncio.sleep(0.05 * 2**attempt)
            except WorkflowUpdateFailedError as err:
                cause = err.cause
                if isinstance(cause, ApplicationError) and cause.type:
                    raise CommandRejected(cause.type, cause.message) from err
                raise
        raise AssertionError("unreachable")

    async def _wait_closed(self, workflow_id: str, run_id: str | None) -> None:
        """The run ends right after a resolve; waiting for that means a trigger sent after
        our answer opens a new incident instead of reaching the finished one."""
        run = self._client.get_workflow_handle(workflow_id, run_id=run_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.result(follow_runs=False), _RUN_CLOSE_WAIT_SECONDS)


def _quoted(value: str) -> str:
    """A string literal's body in a visibility query."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _request_id(service_id: str, dedup_key: str, idempotency_key: str | None) -> str:
    """Temporal drops a repeated request id, so a client retry carrying the same
    Idempotency-Key is delivered once."""
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{service_id}\x00{dedup_key}\x00{idempotency_key}"))
