"""The real API for a test: in this process (``serving``: the app under Hypercorn as
``tocsin api`` serves it, with its own settings, e.g. a guard turned on; the session's
``api_url`` fixture is one of these), or as ``tocsin`` processes given the same settings
through their environment (``tocsin_env``)."""

import asyncio
import json
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from pydantic import SecretStr

from tocsin.settings import Settings
from web.server import serve_api


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
