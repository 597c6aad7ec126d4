"""``GET /api/services/<id>/webhook-secret`` on the real API: admin only, and the secret it
gives verifies what the worker actually signs."""

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from models.db import session_scope
from models.directory import create_user
from models.provisioning import create_api_key
from tests.conftest import API_KEYS, Tenant, make_api_key
from tests.delivery_harness import delivery_worker, make_delivery
from tests.fakes.webhook_receiver import WebhookReceiver
from tocsin import webhook_signing as signing
from tocsin.keys import ApiKeyHasher
from tocsin.settings import Settings
from workflows.notifications import Channel


async def test_admin_reads_the_secret_that_signs_the_service_s_webhooks(
    http: httpx.AsyncClient,
    engine: AsyncEngine,
    client: Client,
    settings: Settings,
    tenant: Tenant,
    webhook_receiver: WebhookReceiver,
) -> None:
    admin = await make_api_key(engine, ["admin"])
    got = await http.get(
        f"/api/services/{tenant.service_id}/webhook-secret",
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["serviceId"] == tenant.service_id
    assert body["signatureHeader"] == "X-Tocsin-Signature"

    url = webhook_receiver.endpoint(200)
    async with delivery_worker(client, engine, settings) as deliver:
        await deliver(make_delivery(Channel.WEBHOOK, url, service_id=tenant.service_id))
    [hook] = webhook_receiver.received(url)
    assert signing.verify(body["secret"], hook.body, hook.headers["X-Tocsin-Signature"])


async def test_only_admins_read_secrets(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    path = f"/api/services/{tenant.service_id}/webhook-secret"
    reader = await make_api_key(engine, ["services:read", "services:write"])
    restricted_admin = await make_api_key(engine, ["admin"], [tenant.service_id])
    async with session_scope(engine) as session:
        user = await create_user(session, "Res Ponder", f"{tenant.service_name}@example.test")
        _, user_key = await create_api_key(
            session, "mine", ["services:read"], user_id=user.id, hasher=API_KEYS
        )

    for key, code in (
        (reader, "MISSING_SCOPE"),
        (user_key, "MISSING_SCOPE"),  # a responder's key never has admin
        (restricted_admin, "RESTRICTED_KEY"),
    ):
        got = await http.get(path, headers={"Authorization": f"Bearer {key}"})
        assert (got.status_code, got.json()["error"]["code"]) == (403, code)
    assert (await http.get(path)).status_code == 401


async def test_unknown_service_is_404(http: httpx.AsyncClient, engine: AsyncEngine) -> None:
    admin = await make_api_key(engine, ["admin"])
    got = await http.get(
        "/api/services/svc_nope/webhook-secret", headers={"Authorization": f"Bearer {admin}"}
    )
    assert got.status_code == 404


async def test_503_when_signing_is_not_configured(
    engine: AsyncEngine, settings: Settings, tenant: Tenant
) -> None:
    from web.app import create_app

    # Without the signing key API keys are hashed unkeyed (tocsin/keys.py): make one so.
    async with session_scope(engine) as session:
        _, admin = await create_api_key(session, "admin", ["admin"], hasher=ApiKeyHasher(None))
    app = create_app(settings.model_copy(update={"webhook_signing_key": None}))
    async with app.test_app() as running:
        got = await running.test_client().get(
            f"/api/services/{tenant.service_id}/webhook-secret",
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert got.status_code == 503
        assert (await got.get_json())["error"]["code"] == "WEBHOOKS_NOT_CONFIGURED"
