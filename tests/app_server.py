"""The real API for a test: in this process (``serving``: the app under Hypercorn as
``tocsin api`` serves it, with its own settings, e.g. a guard turned on; the session's
``api_url`` fixture is one of these), or as ``tocsin`` processes given the same settings
through their environment (``tocsin_env``)."""

import asyncio
import itertools
import json
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from pydantic import SecretStr

from tocsin.devstack import unbound_port
from tocsin.settings import Settings
from web.server import serve_api

PORT_SLICE = 3000  # ports per test process, from 20000 up: below Linux's ephemeral range
# From a random point: two test runs at once (not xdist's workers) seldom pick alike.
_picks = itertools.count(random.randrange(PORT_SLICE))


def free_port() -> int:
    """A port nothing listens on, from this test process's own slice of 20000-31999.

    Below the ephemeral range (``unbound_port``: CI saw ``tocsin up``'s API lose a kernel-
    picked port and the test talk to another API), a slice per xdist worker, so ports are
    only taken by listeners, which the bind check skips; none is handed out twice by one
    process until the slice wraps."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    base = 20000 + (worker % 4) * PORT_SLICE
    return unbound_port(range(base, base + PORT_SLICE), _picks)


def tocsin_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment that makes ``tocsin worker`` / ``tocsin api`` use ``settings``.

    The worker's metrics port is a free one of this call's own, unless ``overrides`` names
    one: the setting's default is a fixed port, and tests run in two processes at once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env["TOCSIN_WORKER_METRICS_PORT"] = str(free_port())
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None or name == "worker_metrics_port":
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, list | tuple | set | dict):
            value = json.dumps(list(value) if isinstance(value, set) else value)  # as parsed
        key = name.upper() if name in ("database_url", "temporal_address") else f"TOCSIN_{name}"
        env[key.upper()] = str(value)
    return env | overrides


@asynccontextmanager
async def serving(settings: Settings, port: int | None = None) -> AsyncIterator[str]:
    """The app for ``settings`` on 127.0.0.1 (on ``port``, else a free one); yields its URL."""
    port = port or free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve_api(settings.model_copy(update={"port": port}), stop))
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as probe:
        for _ in range(200):
            try:
                await probe.get(f"{url}/healthz")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    try:
        yield url
    finally:
        stop.set()
        await task
