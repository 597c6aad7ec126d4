"""PagerDuty's official Python client (``pagerduty`` on PyPI) pointed at Tocsin.

The client insists on an https base URL, so Tocsin is served here over TLS with a
throwaway self-signed certificate the client is told to trust: the client then speaks to
Tocsin exactly as to events.pagerduty.com. It is synchronous, so calls run in a thread while
the servers run on the test loop.
"""

import asyncio
import ipaddress
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pagerduty
import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypercorn.asyncio import serve
from hypercorn.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Tenant, free_port, make_api_key, new_key
from tests.pagerduty_helpers import INVALID, incident_for
from tocsin.settings import Settings
from web.app import create_app

T = TypeVar("T")


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _self_signed(tmp_path_factory.mktemp("tls"))


@pytest_asyncio.fixture(scope="module")
async def tls_url(
    settings: Settings, worker: None, certificate: tuple[Path, Path]
) -> AsyncIterator[str]:
    """The real API (same database and Temporal as ``http``) under Hypercorn with TLS."""
    config = Config()
    port = free_port()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile, config.keyfile = (str(p) for p in certificate)
    config.accesslog = None
    stop = asyncio.Event()
    task = asyncio.create_task(serve(create_app(settings), config, shutdown_trigger=stop.wait))
    url = f"https://127.0.0.1:{port}"
    async with httpx.AsyncClient(verify=_trust(certificate)) as probe:
        for _ in range(100):
            try:
                await probe.get(f"{url}/healthz")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    yield url
    stop.set()
    await task


def _trust(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


@pytest.fixture
def client_for(
    tls_url: str, certificate: tuple[Path, Path]
) -> Iterator[Callable[[str], pagerduty.EventsApiV2Client]]:
    clients: list[pagerduty.EventsApiV2Client] = []

    def make(routing_key: str) -> pagerduty.EventsApiV2Client:
        client = pagerduty.EventsApiV2Client(
            routing_key, base_url=tls_url, verify=_trust(certificate), trust_env=False
        )
        clients.append(client)
        return client

    yield make
    for client in clients:  # open keep-alive connections would hold up the server's stop
        client.close()


async def call(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(func, *args, **kwargs)


async def test_trigger_acknowledge_resolve_with_the_official_client(
    http: httpx.AsyncClient,
    tenant: Tenant,
    client_for: Callable[[str], pagerduty.EventsApiV2Client],
) -> None:
    client = client_for(tenant.integration_key)
    key = new_key("client")
    returned = await call(
        client.trigger,
        "Example alert on host1.example.com",
        "host1.example.com",
        dedup_key=key,
        severity="warning",
        payload={"component": "postgres", "group": "prod-datapipe", "class": "deploy"},
        custom_details={"ping time": "1500ms"},
        images=[{"src": "https://example.com/logo.png", "href": "https://example.com/"}],
        links=[{"href": "https://example.com/", "text": "Link text"}],
    )
    assert returned == key
    incident = await incident_for(http, tenant, key)
    assert incident["urgency"] == "MEDIUM"
    [alert] = incident["alerts"]
    assert alert["payload"]["component"] == "postgres"
    assert alert["payload"]["custom_details"] == {"ping time": "1500ms"}
    assert alert["links"] == [{"href": "https://example.com/", "text": "Link text"}]
    assert alert["images"][0]["src"] == "https://example.com/logo.png"

    assert await call(client.acknowledge, key) == key
    await incident_for(http, tenant, key, status="ACKNOWLEDGED")
    assert await call(client.resolve, key) == key
    await incident_for(http, tenant, key, status="RESOLVED")


async def test_trigger_without_dedup_key_returns_the_generated_one(
    http: httpx.AsyncClient,
    tenant: Tenant,
    client_for: Callable[[str], pagerduty.EventsApiV2Client],
) -> None:
    client = client_for(tenant.integration_key)
    key = await call(client.trigger, "CPU high", "web01")
    assert len(key) == 32
    await incident_for(http, tenant, key, status="OPEN")
    await call(client.resolve, key)
    await incident_for(http, tenant, key, status="RESOLVED")


async def test_change_events_with_the_official_client(
    http: httpx.AsyncClient,
    engine: AsyncEngine,
    tenant: Tenant,
    client_for: Callable[[str], pagerduty.EventsApiV2Client],
) -> None:
    client = client_for(tenant.integration_key)
    # submit() with an explicit timestamp: pagerduty 7.2.0's default (event_timestamp)
    # raises AttributeError before sending anything.
    await call(
        client.submit,
        "Build Success: v42",
        source="ci",
        custom_details={"build_number": "42"},
        links=[{"href": "https://ci.example/42", "text": "Build 42"}],
        timestamp=datetime.now(UTC).isoformat(),
    )
    await call(client.send_change_event, payload={"summary": "Config reloaded"})
    reader = await make_api_key(engine, ["services:read"])
    response = await http.get(
        f"/api/services/{tenant.service_id}/change-events",
        headers={"Authorization": f"Bearer {reader}"},
    )
    events = response.json()["changeEvents"]
    assert {e["summary"] for e in events} == {"Build Success: v42", "Config reloaded"}
    built = next(e for e in events if e["summary"] == "Build Success: v42")
    assert built["source"] == "ci" and built["customDetails"] == {"build_number": "42"}
    assert built["links"] == [{"href": "https://ci.example/42", "text": "Build 42"}]


async def test_the_client_sees_pagerdutys_errors(
    tenant: Tenant, client_for: Callable[[str], pagerduty.EventsApiV2Client]
) -> None:
    client = client_for(tenant.integration_key)
    with pytest.raises(pagerduty.HttpError) as bad:
        await call(client.trigger, "CPU high", "web01", severity="high")
    assert bad.value.response is not None and bad.value.response.status_code == 400
    assert bad.value.response.json() == {
        **INVALID,
        "errors": ["'payload.severity' is invalid (must be one of: critical error warning info)"],
    }
    stranger = client_for("0" * 32)
    with pytest.raises(pagerduty.HttpError) as unknown:
        await call(stranger.trigger, "CPU high", "web01")
    assert unknown.value.response is not None
    assert unknown.value.response.json() == {**INVALID, "errors": ["Invalid routing key"]}
    with pytest.raises(pagerduty.HttpError):
        await call(stranger.send_change_event, payload={"summary": "deploy"})
