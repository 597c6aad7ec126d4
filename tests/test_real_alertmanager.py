"""The real Prometheus Alertmanager binary paging Tocsin, both ways it can: its PagerDuty
receiver pointed at /v2/enqueue, and its webhook receiver at the native Alertmanager
integration. Alerts are posted to Alertmanager's own API, as Prometheus does.

Debian/Ubuntu: ``apt-get install prometheus-alertmanager`` (CI installs it, see .ci/run).
"""

import asyncio
import hashlib
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import free_port, make_api_key

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
DEADLINE_SECONDS = 20

CONFIG = """
route:
  receiver: webhook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - receiver: pagerduty
      matchers: ['via="pagerduty"']
    - receiver: webhook
      matchers: ['via="webhook"']
receivers:
  - name: pagerduty
    pagerduty_configs:
      - routing_key: {events_key}
        url: {tocsin}/v2/enqueue
        description: '{{{{ .CommonAnnotations.summary }}}}'
        severity: '{{{{ .CommonLabels.severity }}}}'
        send_resolved: true
  - name: webhook
    webhook_configs:
      - url: {tocsin}/api/integrations/alertmanager/{alertmanager_key}
        send_resolved: true
"""


@dataclass
class Running:
    """The Alertmanager process and its log."""

    url: str
    log: Path

    def tail(self) -> str:
        return self.log.read_text()[-3000:]


@dataclass
class Setup:
    alertmanager: httpx.AsyncClient
    tocsin: httpx.AsyncClient
    admin: dict[str, str]
    events_service: str  # behind the PagerDuty receiver
    webhook_service: str  # behind the webhook receiver
    running: Running

    async def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        response = await self.alertmanager.post("/api/v2/alerts", json=alerts)
        assert response.status_code == 200, response.text

    async def fingerprint(self, alertname: str, instance: str) -> str:
        response = await self.alertmanager.get(
            "/api/v2/alerts",
            params={"filter": [f'alertname="{alertname}"', f'instance="{instance}"']},
        )
        [alert] = response.json()
        return str(alert["fingerprint"])

    async def wait_for(
        self, service_id: str, found: Callable[[list[dict[str, Any]]], bool], what: str
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            response = await self.tocsin.get(
                "/api/incidents", params={"serviceId": service_id}, headers=self.admin
            )
            incidents: list[dict[str, Any]] = response.json()["incidents"]
            if found(incidents):
                return incidents
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{what} within {DEADLINE_SECONDS}s; incidents {incidents}\n"
                    f"{self.running.tail()}"
                )
            await asyncio.sleep(0.2)


def alert(
    alertname: str, *, via: str, instance: str, severity: str, summary: str, ends: datetime | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "labels": {
            "alertname": alertname,
            "via": via,
            "instance": instance,
            "job": "node",
            "severity": severity,
        },
        "annotations": {"summary": summary, "description": f"{summary} (from Prometheus)"},
        "generatorURL": "http://prometheus.example.com:9090/graph",
    }
    if ends is not None:
        body["endsAt"] = ends.isoformat()
    return body


async def integration_key(
    tocsin: httpx.AsyncClient, admin: dict[str, str], integration_type: str
) -> tuple[str, str]:
    service = await tocsin.post(
        "/api/services", json={"name": f"am-{uuid.uuid4().hex[:8]}"}, headers=admin
    )
    service_id = service.json()["id"]
    created = await tocsin.post(
        f"/api/services/{service_id}/integrations",
        json={"name": "alertmanager", "type": integration_type},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    return service_id, created.json()["integrationKey"]


@dataclass
class Targets:
    admin: dict[str, str]
    events_service: str
    events_key: str
    webhook_service: str
    alertmanager_key: str


@pytest.fixture
async def targets(http: httpx.AsyncClient, engine: AsyncEngine) -> Targets:
    if BINARY is None:
        pytest.skip(
            "PROMETHEUS ALERTMANAGER NOT INSTALLED: the real-Alertmanager proof did not run "
            "(apt-get install prometheus-alertmanager)"
        )
    admin = {"Authorization": f"Bearer {await make_api_key(engine, ['admin'])}"}
    events_service, events_key = await integration_key(http, admin, "events")
    webhook_service, alertmanager_key = await integration_key(http, admin, "alertmanager")
    return Targets(admin, events_service, events_key, webhook_service, alertmanager_key)


@pytest.fixture
def running(targets: Targets, api_url: str, tmp_path: Path) -> Iterator[Running]:
    """Alertmanager on a free port, clustering off, routing to this test's integrations."""
    assert BINARY is not None
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        CONFIG.format(
            tocsin=api_url, events_key=targets.events_key, alertmanager_key=targets.alertmanager_key
        )
    )
    port = free_port()
    running = Running(f"http://127.0.0.1:{port}", tmp_path / "alertmanager.log")
    with running.log.open("w") as out:
        proc = subprocess.Popen(
            [
                BINARY,
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=debug",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(running, proc)
        yield running
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_ready(running: Running, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    with httpx.Client(base_url=running.url, timeout=2) as am:
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"alertmanager exited:\n{running.tail()}"
            try:
                if am.get("/-/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    pytest.fail(f"alertmanager not ready:\n{running.tail()}")


@pytest.fixture
async def setup(
    http: httpx.AsyncClient, targets: Targets, running: Running
) -> AsyncIterator[Setup]:
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as am:
        yield Setup(
            am, http, targets.admin, targets.events_service, targets.webhook_service, running
        )


def by_title(title: str, status: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda incidents: any(i["title"] == title and i["status"] == status for i in incidents)


async def test_webhook_receiver_opens_and_resolves_one_incident_per_alert(
    setup: Setup,
) -> None:
    name = f"NodeDown{uuid.uuid4().hex[:6]}"
    cases = [("web-1:9100", "critical", "HIGH"), ("web-2:9100", "warning", "MEDIUM")]

    async def post(ends: datetime | None) -> None:
        await setup.post_alerts(
            [
                alert(
                    name, via="webhook", instance=i, severity=s, summary=f"{i} is down", ends=ends
                )
                for i, s, _ in cases
            ]
        )

    await post(ends=None)
    fingerprints = {i: await setup.fingerprint(name, i) for i, _, _ in cases}
    incidents = await setup.wait_for(
        setup.webhook_service,
        lambda found: all(by_title(f"{i} is down", "OPEN")(found) for i, _, _ in cases),
        "both alerts open incidents",
    )
    for instance, _, urgency in cases:
        [incident] = [i for i in incidents if i["title"] == f"{instance} is down"]
        assert incident["dedupKey"] == fingerprints[instance]
        assert incident["urgency"] == urgency
        detail = await setup.tocsin.get(f"/api/incidents/{incident['id']}", headers=setup.admin)
        first = detail.json()["alerts"][-1]
        assert first["client"] == "Alertmanager" and first["source"] == instance
        assert first["payload"]["custom_details"]["labels"]["alertname"] == name

    await post(ends=datetime.now(UTC) - timedelta(seconds=1))
    await setup.wait_for(
        setup.webhook_service,
        lambda found: all(by_title(f"{i} is down", "RESOLVED")(found) for i, _, _ in cases),
        "both incidents resolve",
    )


async def test_pagerduty_receiver_opens_and_resolves_the_group_incident(
    setup: Setup,
) -> None:
    """Needs PagerDuty's POST /v2/enqueue on Tocsin (built on another branch)."""
    name = f"DiskFull{uuid.uuid4().hex[:6]}"
    summary = f"Disk full on db-1 ({name})"

    def body(ends: datetime | None) -> list[dict[str, Any]]:
        return [
            alert(
                name, via="pagerduty", instance="db-1:9100", severity="critical", summary=summary,
                ends=ends,
            )
        ]  # fmt: skip

    await setup.post_alerts(body(None))
    incidents = await setup.wait_for(
        setup.events_service, by_title(summary, "OPEN"), "the PagerDuty receiver opens an incident"
    )
    [incident] = incidents
    assert incident["urgency"] == "HIGH"
    # Alertmanager's PagerDuty dedup key: the SHA-256 of the group key, one incident per group.
    group_key = f'{{}}/{{via="pagerduty"}}:{{alertname="{name}"}}'
    assert incident["dedupKey"] == hashlib.sha256(group_key.encode()).hexdigest()

    await setup.post_alerts(body(datetime.now(UTC) - timedelta(seconds=1)))
    await setup.wait_for(
        setup.events_service, by_title(summary, "RESOLVED"), "the PagerDuty incident resolves"
    )
