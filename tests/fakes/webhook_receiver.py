"""A real HTTP server (aiohttp) that receives webhooks and answers with scripted statuses.

``endpoint(500, 500, 200)`` makes a URL of its own whose POSTs are answered 500, 500, then
200 from then on; ``received(url)`` is what arrived there, raw bodies and headers included.
"""

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest_asyncio
from aiohttp import web
from multidict import CIMultiDict


@dataclass
class ReceivedHook:
    headers: CIMultiDict[str]
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when it arrived


class WebhookReceiver:
    def __init__(self) -> None:
        self.base_url = ""
        self._scripts: dict[str, list[int]] = {}
        self._received: dict[str, list[ReceivedHook]] = {}

    def endpoint(self, *statuses: int) -> str:
        name = uuid.uuid4().hex[:12]
        self._scripts[name] = list(statuses) or [200]
        self._received[name] = []
        return f"{self.base_url}/hooks/{name}"

    def received(self, url: str) -> list[ReceivedHook]:
        return self._received[url.rsplit("/", 1)[1]]

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self._scripts:
            return web.Response(status=404)
        hook = ReceivedHook(CIMultiDict(request.headers), await request.read())
        self._received[name].append(hook)
        script = self._scripts[name]
        status = script.pop(0) if len(script) > 1 else script[0]
        return web.Response(status=status, text=f"scripted {status}")


@pytest_asyncio.fixture(scope="session")
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    app = web.Application()
    app.router.add_post("/hooks/{name}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    receiver.base_url = f"http://{host}:{port}"
    yield receiver
    await runner.cleanup()
