"""A worker for nothing but ``BareIncident``, in its own process like ``tocsin worker``.

Run: ``python -m bench.bare_worker ADDRESS TASK_QUEUE``; SIGTERM stops it.
"""

import asyncio
import sys

from temporalio.worker import Worker

from bench.bare_workflow import BareIncident
from tocsin.processes import run_until_signalled
from tocsin.settings import Settings
from tocsin.temporal import connect


async def serve(address: str, task_queue: str, stop: asyncio.Event) -> None:
    client = await connect(Settings(temporal_address=address))
    async with Worker(client, task_queue=task_queue, workflows=[BareIncident]):
        print("polling", flush=True)
        await stop.wait()


def main() -> None:
    address, task_queue = sys.argv[1:3]
    run_until_signalled(lambda stop: serve(address, task_queue, stop))


if __name__ == "__main__":
    main()
