"""The single place where workflows and activities are wired to their task queue."""

import asyncio
import logging
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.deliveries import DeliveryActivities, Sender
from activities.escalation import EscalationActivities
from activities.handoffs import HandoffActivities
from activities.projection import ProjectionActivities
from activities.senders import build_senders, close_senders
from activities.slack_rooms import SlackRoomActivities
from models.db import create_engine
from tocsin.settings import Settings
from tocsin.temporal import connect, register_search_attributes
from workflows.deliveries import DeliveriesWorkflow
from workflows.handoffs import ScheduleHandoffsWorkflow
from workflows.incident import IncidentWorkflow
from workflows.notifications import Channel

# The sandbox re-imports non-passthrough modules for every workflow run. Pydantic is
# deterministic and heavy to import, so it is shared (our own pure modules are passed through
# by the workflow's imports_passed_through block); the workflow module itself stays sandboxed.
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "pydantic", "pydantic_core", "annotated_types"
    )
)


def build_worker(
    client: Client,
    engine: AsyncEngine,
    task_queue: str,
    settings: Settings,
    senders: Mapping[Channel, Sender] | None = None,
) -> Worker:
    """``senders`` defaults to those the settings build; pass them to close them after."""
    projection = ProjectionActivities(engine)
    if senders is None:
        senders = build_senders(settings, engine)
    deliveries = DeliveryActivities(engine, senders)
    escalation = EscalationActivities(engine)
    rooms = SlackRoomActivities(settings)
    handoffs = HandoffActivities(engine, settings)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[IncidentWorkflow, DeliveriesWorkflow, ScheduleHandoffsWorkflow],
        activities=[
            projection.project,
            deliveries.deliver,
            escalation.load_policy,
            escalation.find_recipients,
            escalation.service_channels,
            rooms.open_room,
            rooms.close_room,
            handoffs.plan,
            handoffs.notices,
            handoffs.send,
        ],
        workflow_runner=SANDBOX,
    )


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Poll until ``stop`` is set, then finish in-flight tasks and exit."""
    client = await connect(settings)
    # Idempotent; lets an external Temporal server work without a separate setup step.
    try:
        await register_search_attributes(client, settings.temporal_namespace)
    except RPCError as err:  # e.g. no operator permission: registered out of band instead
        log.warning("could not register search attributes: %s", err)
    engine = create_engine(settings)
    senders = build_senders(settings, engine)
    try:
        async with build_worker(client, engine, settings.task_queue, settings, senders):
            log.info("worker polling task queue %s", settings.task_queue)
            await stop.wait()
    finally:
        await close_senders(senders)
        await engine.dispose()


log = logging.getLogger("tocsin.worker")
