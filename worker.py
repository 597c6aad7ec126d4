"""The single place where workflows and activities are wired to their task queue."""

import asyncio
import importlib.util
import logging
import py_compile
from collections.abc import Iterable, Mapping
from types import ModuleType

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import (
    PollerBehaviorSimpleMaximum,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.deliveries import DeliveryActivities, Sender
from activities.escalation import EscalationActivities
from activities.handoffs import HandoffActivities
from activities.projection import ProjectionActivities
from activities.senders import build_senders, close_senders
from activities.slack_client import slack_client
from activities.slack_rooms import SlackRoomActivities
from models.db import create_engine
from tocsin.processes import settle_garbage_collector, unless_stopped
from tocsin.settings import Settings
from tocsin.temporal import connect_waiting, register_search_attributes
from tocsin.temporal_telemetry import TemporalTelemetry
from workflows import deliveries as deliveries_module
from workflows import handoffs as handoffs_module
from workflows import incident as incident_module
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


# The modules the sandbox imports afresh for every workflow run (their imports are passed
# through). See ``warm_bytecode``.
SANDBOXED_MODULES = (incident_module, deliveries_module, handoffs_module)
# Polls kept open per worker process. The SDK's default (5 workflow task polls, a fifth of
# them on the queue where new incidents' first tasks wait, the rest on this worker's sticky
# queue) left tasks waiting seconds for a poller under the mixed benchmark; half of 10 for
# each queue did not (docs/benchmarks.md). Fixed counts rather than the SDK's server-driven
# autoscaling: it did as well there, but cost a third of the saturating ingest rate (the
# worker took its CPU), and the test suite's Temporal-restart chaos test once timed out
# with it.
WORKFLOW_TASK_POLLERS = 10
NEW_WORKFLOW_POLL_SHARE = 0.5
ACTIVITY_TASK_POLLERS = 5


def warm_bytecode(modules: Iterable[ModuleType]) -> None:
    """Write the bytecode cache of ``modules``.

    The sandbox re-imports each workflow's module per run; without a ``.pyc`` (the process
    runs with PYTHONDONTWRITEBYTECODE, as in containers and on this project's machines) every
    new incident compiled workflows/incident.py from source, a sixth of the worker's CPU
    under load (docs/benchmarks.md). Reading a ``.pyc`` is unaffected by that setting. A
    read-only code directory is left alone (an installed package is compiled by pip).
    """
    for module in modules:
        source = module.__file__
        if source is None or not source.endswith(".py"):
            continue
        try:
            py_compile.compile(
                source,
                cfile=importlib.util.cache_from_source(source),
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
            )
        except (OSError, py_compile.PyCompileError) as err:
            log.info("no bytecode cache for %s: %s", module.__name__, err)


def workflow_runner(settings: Settings) -> WorkflowRunner:
    """Sandboxed in the test suite (the guard), unsandboxed by default (the speed)."""
    return SANDBOX if settings.workflow_sandbox else UnsandboxedWorkflowRunner()


def build_worker(
    client: Client,
    engine: AsyncEngine,
    task_queue: str,
    settings: Settings,
    senders: Mapping[Channel, Sender] | None = None,
    slack: AsyncWebClient | None = None,
) -> Worker:
    """``senders`` and ``slack`` (the Slack client every Slack activity shares) default to
    those the settings build; pass them to close them after."""
    projection = ProjectionActivities(engine)
    if slack is None:
        slack = slack_client(settings)
    if senders is None:
        senders = build_senders(settings, engine, slack)
    deliveries = DeliveryActivities(engine, senders)
    escalation = EscalationActivities(engine)
    rooms = SlackRoomActivities(settings, slack)
    handoffs = HandoffActivities(engine, settings, slack)
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
        workflow_runner=workflow_runner(settings),
        workflow_task_poller_behavior=PollerBehaviorSimpleMaximum(WORKFLOW_TASK_POLLERS),
        nonsticky_to_sticky_poll_ratio=NEW_WORKFLOW_POLL_SHARE,
        activity_task_poller_behavior=PollerBehaviorSimpleMaximum(ACTIVITY_TASK_POLLERS),
    )


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Poll until ``stop`` is set, then finish in-flight tasks and exit."""
    telemetry = TemporalTelemetry()
    client = await unless_stopped(connect_waiting(settings, telemetry.runtime), stop)
    if client is None:
        return
    # Idempotent; lets an external Temporal server work without a separate setup step.
    try:
        await register_search_attributes(client, settings.temporal_namespace)
    except RPCError as err:  # e.g. no operator permission: registered out of band instead
        log.warning("could not register search attributes: %s", err)
    # Activities retry a failed attempt, so a dropped connection costs one retry rather
    # than a ping before every query.
    engine = create_engine(settings, pre_ping=False)
    if settings.workflow_sandbox:
        warm_bytecode(SANDBOXED_MODULES)
    slack = slack_client(settings)
    senders = build_senders(settings, engine, slack)
    draining = asyncio.create_task(telemetry.drain_forever())
    try:
        async with build_worker(client, engine, settings.task_queue, settings, senders, slack):
            # What the worker keeps is loaded; the workflows it runs come and go.
            settle_garbage_collector()
            log.info("worker polling task queue %s", settings.task_queue)
            await stop.wait()
    finally:
        draining.cancel()
        telemetry.drain()
        await close_senders(senders)
        if slack is not None:
            await slack.close()
        await engine.dispose()


def serve_from_environment() -> None:
    """One worker process with the environment's settings (a child of ``tocsin worker``
    when TOCSIN_WORKER_PROCESSES > 1)."""
    from tocsin.cli import configure_logging
    from tocsin.processes import run_until_signalled
    from tocsin.settings import get_settings

    settings = get_settings()
    configure_logging(settings)
    run_until_signalled(lambda stop: run_worker(settings, stop))


log = logging.getLogger("tocsin.worker")
