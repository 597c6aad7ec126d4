"""The outgoing-webhook SSRF guard (docs/security.md): with private targets not allowed, no
request reaches a non-public address, by literal address or by a name resolving to one; the
refusal is a final delivery failure, not a crash or a retry. Also the bounds every webhook
request has: no redirect followed, a bounded read of the answer, a total time limit. The
test settings allow private targets (the fake receivers listen on 127.0.0.1); these tests
turn that off."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from activities.outbound_http import ForbiddenTarget, GuardedResolver
from activities.webhook import BODY_EXCERPT_CHARS, WebhookSender
from tests.app_server import serving
from tests.conftest import Tenant, make_api_key
from tests.delivery_harness import Deliver, attempts, delivery_worker, make_delivery
from tests.fakes.webhook_receiver import WebhookReceiver
from tocsin.settings import Settings
from tocsin.ssrf import host_refusal, url_refusal
from workflows.notifications import Channel

REFUSED_HOSTS = [
    "127.0.0.1",
    "127.1",  # what resolvers read as 127.0.0.1
    "2130706433",
    "0x7f.0.0.1",
    "0.0.0.0",
    "10.0.0.8",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "169.254.169.254",  # cloud metadata
    "224.0.0.251",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "[::1]",
    "::",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "[::ffff:169.254.169.254]",
    "::ffff:a00:1",
    "localhost",
    "LOCALHOST.",
    "api.localhost",
]
ALLOWED_HOSTS = ["93.184.215.14", "2606:4700::1111", "hooks.example.com", "8.8.8.8"]


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_non_public_hosts_are_refused(host: str) -> None:
    assert host_refusal(host) is not None


@pytest.mark.parametrize("host", ALLOWED_HOSTS)
def test_public_hosts_pass(host: str) -> None:
    assert host_refusal(host) is None


def test_url_refusal_names_the_reason() -> None:
    assert url_refusal("https://hooks.example.com/x") is None
    assert "private network" in (url_refusal("http://169.254.169.254/latest/meta-data") or "")
    assert url_refusal("gopher://hooks.example.com/") == "must be an http(s) URL"


async def test_the_resolver_drops_non_public_answers() -> None:
    resolver = GuardedResolver()
    with pytest.raises(ForbiddenTarget, match=r"127\.0\.0\.1"):
        await resolver.resolve("localhost", 80)
    await resolver.close()


# --- at send time, through the real deliver activity ------------------------------------------


@pytest.fixture(scope="module")
def guarded(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_allow_private_targets": False})


@pytest_asyncio.fixture(scope="module")
async def deliver_guarded(
    client: Client, engine: AsyncEngine, guarded: Settings
) -> AsyncIterator[Deliver]:
    async with delivery_worker(client, engine, guarded) as run:
        yield run


def _port(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",  # a literal: aiohttp does not resolve it, checked before the request
        "localhost",  # a name: refused by the resolver, never connected to
        "[::ffff:127.0.0.1]",
    ],
)
async def test_a_private_target_fails_once_and_is_never_reached(
    deliver_guarded: Deliver, webhook_receiver: WebhookReceiver, engine: AsyncEngine, host: str
) -> None:
    url = webhook_receiver.endpoint(200)
    target = url.replace("127.0.0.1", host)
    delivery = make_delivery(Channel.WEBHOOK, target, max_attempts=5)

    result = await deliver_guarded(delivery)

    assert result.status == "failed"
    assert (result.detail or "").startswith("refused target: "), result.detail
    assert "127.0.0.1" in (result.detail or "")
    assert webhook_receiver.received(url) == []
    assert len(await attempts(engine, delivery.key)) == 1, "final at once, not retried"


async def test_allowed_private_targets_are_reached_by_name(
    deliver: Deliver, webhook_receiver: WebhookReceiver
) -> None:
    """The same localhost URL with the test settings' allowance goes through."""
    url = webhook_receiver.endpoint(200)
    result = await deliver(make_delivery(Channel.WEBHOOK, url.replace("127.0.0.1", "localhost")))
    assert result.status == "sent"
    assert len(webhook_receiver.received(url)) == 1


@pytest_asyncio.fixture(scope="module")
async def deliver(
    client: Client, engine: AsyncEngine, settings: Settings
) -> AsyncIterator[Deliver]:
    async with delivery_worker(client, engine, settings) as run:
        yield run


# --- redirects, answer size, time -------------------------------------------------------------


@pytest_asyncio.fixture(scope="module")
async def odd_receiver() -> AsyncIterator[str]:
    """A receiver that redirects, answers without end, or never answers."""
    hits: list[str] = []

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/landed")

    async def landed(request: web.Request) -> web.Response:
        hits.append("landed")
        return web.Response(text="ok")

    async def endless(request: web.Request) -> web.StreamResponse:
        status = int(request.query.get("status", "200"))
        response = web.StreamResponse(status=status)
        await response.prepare(request)
        chunk = b"x" * 65536
        while True:  # until the client goes away
            await response.write(chunk)

    async def silent(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(text="too late")

    app = web.Application()
    app.router.add_post("/redirect", redirect)
    app.router.add_route("*", "/landed", landed)
    app.router.add_post("/endless", endless)
    app.router.add_post("/silent", silent)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    base = f"http://{host}:{port}"
    yield base
    assert hits == [], "a redirect was followed"
    await runner.cleanup()


async def test_a_redirect_is_not_followed(deliver: Deliver, odd_receiver: str) -> None:
    result = await deliver(make_delivery(Channel.WEBHOOK, f"{odd_receiver}/redirect"))
    assert (result.status, result.detail) == ("failed", "receiver answered HTTP 302")


async def test_an_endless_answer_is_read_only_in_part(
    settings: Settings, odd_receiver: str
) -> None:
    sender = WebhookSender(settings, timeout=5)
    try:
        started = time.monotonic()
        sent = await sender.send(make_delivery(Channel.WEBHOOK, f"{odd_receiver}/endless"))
        assert sent.external_id == "HTTP 200"
        refused = make_delivery(Channel.WEBHOOK, f"{odd_receiver}/endless?status=400")
        with pytest.raises(Exception) as failed:
            await sender.send(refused)
        assert time.monotonic() - started < 4
    finally:
        await sender.close()
    data = failed.value.data  # type: ignore[attr-defined]
    assert data["status"] == 400 and len(data["body"]) == BODY_EXCERPT_CHARS


async def test_a_silent_receiver_times_out(settings: Settings, odd_receiver: str) -> None:
    sender = WebhookSender(settings, timeout=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(Exception, match="no answer within"):
            await sender.send(make_delivery(Channel.WEBHOOK, f"{odd_receiver}/silent"))
        assert time.monotonic() - started < 3
    finally:
        await sender.close()


# --- at configuration time, through the API ---------------------------------------------------


@pytest_asyncio.fixture(scope="module")
async def guarded_api(guarded: Settings, worker: None) -> AsyncIterator[httpx.AsyncClient]:
    """A second real API with private targets not allowed."""
    async with (
        serving(guarded) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield http


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080/hook",
        "http://127.0.0.1/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
async def test_the_api_refuses_an_obviously_private_webhook_url(
    guarded_api: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant, url: str
) -> None:
    headers = {
        "Authorization": f"Bearer {await make_api_key(engine, ['services:write', 'users:write'])}"
    }
    created = await guarded_api.post(
        "/api/services",
        json={"name": f"s-{uuid.uuid4().hex[:6]}", "webhookUrl": url},
        headers=headers,
    )
    assert created.status_code == 400, created.text
    error = created.json()["error"]
    assert (error["code"], error["field"]) == ("INVALID_REQUEST", "webhookUrl")
    assert "private network" in error["message"]

    patched = await guarded_api.patch(
        f"/api/services/{tenant.service_id}", json={"webhookUrl": url}, headers=headers
    )
    assert patched.status_code == 400 and patched.json()["error"]["field"] == "webhookUrl"

    user = await guarded_api.post(
        "/api/users",
        json={"name": "Hook", "email": f"h-{uuid.uuid4().hex[:8]}@example.com"},
        headers=headers,
    )
    assert user.status_code == 201, user.text
    method = await guarded_api.post(
        f"/api/users/{user.json()['id']}/contact-methods",
        json={"type": "webhook", "address": url},
        headers=headers,
    )
    assert method.status_code == 400 and method.json()["error"]["field"] == "address"


async def test_the_api_accepts_a_public_webhook_url(
    guarded_api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    headers = {"Authorization": f"Bearer {await make_api_key(engine, ['services:write'])}"}
    created = await guarded_api.post(
        "/api/services",
        json={"name": f"s-{uuid.uuid4().hex[:6]}", "webhookUrl": "https://hooks.example.com/t"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
