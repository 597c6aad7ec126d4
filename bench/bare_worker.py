"""A worker for nothing but ``BareIncident``, in its own process like ``tocsin worker``, with
its SDK settings (workflow runner, poller counts): the ceiling differs from Tocsin's worker
in the workflow's work only.

Run: ``python -m bench.bare_worker ADDRESS TASK_QUEUE``; SIGTERM stops it.
"""

import asyncio
import sys

from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

from bench.bare_workflow import BareIncident
from tocsin.processes import run_until_signalled
from tocsin.settings import Settings
from tocsin.temporal import connect
from worker import NEW_WORKFLOW_POLL_SHARE, WORKFLOW_TASK_POLLERS, workflow_runner


async def serve(address: str, task_queue: str, stop: asyncio.Event) -> None:
    settings = Settings(temporal_address=address)
    client = await connect(settings)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[BareIncident],
        workflow_runner=workflow_runner(settings),
        workflow_task_poller_behavior=PollerBehaviorSimpleMaximum(WORKFLOW_TASK_POLLERS),
        nonsticky_to_sticky_poll_ratio=NEW_WORKFLOW_POLL_SHARE,
    ):
        print("polling", flush=True)
        await stop.wait()


def main() -> None:
    address, task_queue = sys.argv[1:3]
    run_until_signalled(lambda stop: serve(address, task_queue, stop))


if __name__ == "__main__":
    main()
