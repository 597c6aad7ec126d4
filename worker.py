"""The single place where workflows and activities are wired to their task queue."""

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.deliveries import DeliveryActivities
from activities.projection import ProjectionActivities
from activities.senders import build_senders
from activities.slack_rooms import SlackRoomActivities
from models.db import create_engine
from tocsin.settings import Settings
from tocsin.temporal import connect, register_search_attributes
from workflows.incident import IncidentWorkflow

# The sandbox re-imports non-passthrough modules for every workflow run. Pydantic is
# deterministic and heavy to import, so it is shared (our own pure modules are passed through
# by the workflow's imports_passed_through block); the workflow module itself stays sandboxed.
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "pydantic", "pydantic_core", "annotated_types"
    )
)


def build_worker(
    client: Client, engine: AsyncEngine, task_queue: str, settings: Settings
) -> Worker:
    projection = ProjectionActivities(engine)
    deliveries = DeliveryActivities(engine, build_senders(settings, engine))
    rooms = SlackRoomActivities(settings)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[IncidentWorkflow],
        activities=[projection.project, deliveries.deliver, rooms.open_room, rooms.close_room],
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
    try:
        async with build_worker(client, engine, settings.task_queue, settings):
            log.info("worker polling task queue %s", settings.task_queue)
            await stop.wait()
    finally:
        await engine.dispose()


log = logging.getLogger("tocsin.worker")
