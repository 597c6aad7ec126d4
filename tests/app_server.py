"""Another real API process for a test: the app under Hypercorn on a free port, with its
own settings (e.g. a guard turned on) and the session's database and Temporal."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from hypercorn.asyncio import serve
from hypercorn.config import Config

from tests.conftest import free_port
from tocsin.settings import Settings
from web.app import create_app


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    """The app for ``settings`` on 127.0.0.1 (any port in them is replaced); yields its URL."""
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    stop = asyncio.Event()
    app = create_app(settings.model_copy(update={"port": port}))
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
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
