"""Soak: the benchmark's mixed load (bench/mixed.py: 70 % trigger, 20 % acknowledge, 10 %
resolve over Zipf-distributed dedup keys) against a worker and an API running as processes,
with the worker killed (``kill -9``) and restarted halfway: every event is accounted for.

``TOCSIN_SOAK_SECONDS`` sets the load's length: 20 s in ``make test``, 600 s in
``make chaos`` (docs/testing.md). The expected read side is derived from the API's answers
(bench.mixed.differences): no incident missing or unexpected, every alert count, alert row
and final status right, and no request refused.
"""

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.client import provision
from bench.http import http_client
from bench.load import open_loop
from bench.mixed import Sent, differences, held, mixed_call, parse_args, plan
from bench.stack import Stack
from tests.app_server import tocsin_env
from tests.chaos.processes import Processes, wait_ready, wait_until
from tests.conftest import free_port
from tocsin.settings import Settings

SOAK_SECONDS = float(os.environ.get("TOCSIN_SOAK_SECONDS", "20"))
RATE = 20.0  # requests per second: a steady load two shared cores sustain beside the rest
SERVICES = 20
# Generous: the backlog of the worker's outage is worked off after the load stops.
CATCH_UP = 180.0


async def test_mixed_load_with_a_worker_kill_loses_no_event(
    settings: Settings,
    database_url: str,
    procs: Processes,
    record_property: Callable[[str, Any], None],
) -> None:
    port = free_port()
    env = tocsin_env(
        settings,
        TOCSIN_TASK_QUEUE=f"soak-{uuid.uuid4().hex[:8]}",
        TOCSIN_PORT=str(port),
        TOCSIN_API_WORKERS="1",
        TOCSIN_RATE_LIMIT_REQUESTS="100000000",
    )
    worker = procs.tocsin("worker", env).start()
    api = procs.tocsin("api", env).start()
    url = f"http://127.0.0.1:{port}"
    await wait_ready(url, api)

    args = parse_args(
        ["--services", str(SERVICES), "--rate", str(RATE), "--seconds", str(SOAK_SECONDS)]
    )
    tenants = await provision(database_url, args.services, f"soak {uuid.uuid4().hex[:6]}")
    requests = plan(args, tenants)
    sent = Sent()

    async def restart_worker_halfway() -> float:
        await asyncio.sleep(SOAK_SECONDS / 2)
        began = time.monotonic()
        await asyncio.to_thread(worker.kill)
        worker.start()
        return time.monotonic() - began

    async with http_client(url, args.max_in_flight) as http:
        restart = asyncio.create_task(restart_worker_halfway())
        run = await open_loop(
            mixed_call(http, requests, sent),
            rate=args.rate,
            seconds=args.seconds,
            max_in_flight=args.max_in_flight,
        )
        await restart
    assert worker.starts == 2

    stack = Stack(database_url, settings.temporal_address or "", url, {}, None, "session")
    load_ended = time.monotonic()

    async def caught_up() -> bool:
        return not any(differences(sent, await held(stack, tenants)).values())

    in_time = True
    try:
        await wait_until(caught_up, CATCH_UP, "the read side matches every accepted event", 1.0)
    except AssertionError:
        in_time = False  # the assert below names what still differs
    finally:
        diff = differences(sent, await held(stack, tenants))
        record_property("soak_seconds", SOAK_SECONDS)
        record_property("sent", run.sent)
        record_property("outcomes", dict(run.outcomes))
        record_property("catch_up_s", round(time.monotonic() - load_ended, 1))
        record_property("differences", diff)
    assert run.errors == 0, run.outcomes
    assert sent.unattributed == 0
    assert in_time and not any(diff.values()), f"not caught up within {CATCH_UP:.0f} s: {diff}"
    assert len(sent.opened) > 0 and sum(sent.alerts.values()) > len(sent.opened)
