"""Alertmanager, Grafana and generic JSON integrations through the real API: created with
the management API, fed their senders' payloads at /api/integrations/<type>/<key>."""

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.alert_payloads import (
    alertmanager_alert,
    alertmanager_notification,
    grafana_alert,
    grafana_notification,
)
from tests.conftest import make_api_key

SECRET = "integration-hmac-secret"


@pytest.fixture
async def admin(engine: AsyncEngine) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_api_key(engine, ['admin'])}"}


@dataclass
class Native:
    http: httpx.AsyncClient
    admin: dict[str, str]
    service_id: str
    integration_id: str
    type: str
    key: str

    @property
    def path(self) -> str:
        return f"/api/integrations/{self.type}/{self.key}"

    async def post(self, body: Any, **headers: str) -> httpx.Response:
        return await self.http.post(self.path, json=body, headers=headers)

    async def post_raw(self, content: bytes, **headers: str) -> httpx.Response:
        headers = {"Content-Type": "application/json", **headers}
        return await self.http.post(self.path, content=content, headers=headers)

    async def incidents(self) -> list[dict[str, Any]]:
        response = await self.http.get(
            "/api/incidents", params={"serviceId": self.service_id}, headers=self.admin
        )
        assert response.status_code == 200, response.text
        return list(response.json()["incidents"])

    async def incident(self, dedup_key: str, status: str = "OPEN") -> dict[str, Any]:
        """The incident for ``dedup_key`` once the read side shows it in ``status``."""
        deadline = time.monotonic() + 10
        while True:
            found = [i for i in await self.incidents() if i["dedupKey"] == dedup_key]
            if found and found[0]["status"] == status:
                detail = await self.http.get(f"/api/incidents/{found[0]['id']}", headers=self.admin)
                return dict(detail.json())
            assert time.monotonic() < deadline, f"{dedup_key}: {found}"
            await asyncio.sleep(0.1)


async def create(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    integration_type: str,
    config: dict[str, Any] | None = None,
    signing_secret: str | None = None,
) -> Native:
    service = await http.post(
        "/api/services", json={"name": f"svc-{uuid.uuid4().hex[:8]}"}, headers=admin
    )
    assert service.status_code == 201, service.text
    service_id = service.json()["id"]
    body: dict[str, Any] = {"name": integration_type, "type": integration_type}
    if config is not None:
        body["config"] = config
    if signing_secret is not None:
        body["signingSecret"] = signing_secret
    created = await http.post(f"/api/services/{service_id}/integrations", json=body, headers=admin)
    assert created.status_code == 201, created.text
    integration = created.json()
    assert integration["url"].endswith(
        f"/api/integrations/{integration_type}/{integration['integrationKey']}"
    )
    return Native(
        http, admin, service_id, integration["id"], integration_type, integration["integrationKey"]
    )


def actions(response: httpx.Response) -> list[str]:
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "success" and body["message"] == "Event processed"
    return [event["action"] for event in body["events"]]


async def test_alertmanager_alerts_open_and_resolve_their_incidents(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    am = await create(http, admin, "alertmanager")
    cpu = alertmanager_alert(summary="CPU above 95% on api-1", severity="critical")
    disk = alertmanager_alert(
        alertname="DiskFilling",
        instance="db-1:9100",
        severity="warning",
        summary="Disk 90% on db-1",
    )
    assert actions(await am.post(alertmanager_notification(cpu, disk))) == ["triggered"] * 2

    cpu_incident = await am.incident(cpu["fingerprint"])
    assert cpu_incident["title"] == "CPU above 95% on api-1"
    assert cpu_incident["urgency"] == "HIGH"
    [alert] = cpu_incident["alerts"]
    assert alert["severity"] == "critical" and alert["source"] == "api-1:9100"
    assert alert["client"] == "Alertmanager"
    assert alert["clientUrl"] == "http://alertmanager.example.com:9093"
    assert {"href": cpu["generatorURL"], "text": "Source"} in alert["links"]
    assert alert["payload"]["custom_details"]["labels"] == cpu["labels"]
    disk_incident = await am.incident(disk["fingerprint"])
    assert (disk_incident["title"], disk_incident["urgency"]) == ("Disk 90% on db-1", "MEDIUM")

    resolved = {**cpu, "status": "resolved", "endsAt": "2024-05-01T10:30:00Z"}
    assert actions(await am.post(alertmanager_notification(resolved, disk))) == [
        "resolved",
        "deduplicated",
    ]
    await am.incident(cpu["fingerprint"], "RESOLVED")
    assert (await am.incident(disk["fingerprint"]))["status"] == "OPEN"


async def test_ha_duplicate_changes_nothing(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    am = await create(http, admin, "alertmanager")
    alert = alertmanager_alert()
    body = alertmanager_notification(alert)
    assert actions(await am.post(body)) == ["triggered"]
    assert actions(await am.post(body)) == ["deduplicated"]  # the pair's other instance
    resolved = alertmanager_notification({**alert, "status": "resolved"})
    assert actions(await am.post(resolved)) == ["resolved"]
    assert actions(await am.post(resolved)) == ["ignored"]
    # The read side is written in order: had the duplicate added an alert, it would show
    # by the time the resolve does.
    incident = await am.incident(alert["fingerprint"], "RESOLVED")
    assert incident["alertCount"] == 1 and len(incident["alerts"]) == 1


async def test_resolve_without_incident_is_ignored(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    am = await create(http, admin, "alertmanager")
    body = alertmanager_notification(alertmanager_alert(status="resolved"))
    response = await am.post(body)
    assert actions(response) == ["ignored"] and response.json()["events"][0]["incident"] is None
    assert await am.incidents() == []


async def test_alertmanager_group_mode(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    am = await create(http, admin, "alertmanager", {"groupBy": "group"})
    group_key = f'{{}}:{{alertname="HighErrorRate",run="{uuid.uuid4().hex}"}}'
    body = alertmanager_notification(
        alertmanager_alert(severity="warning"),
        alertmanager_alert(severity="critical"),
        group_key=group_key,
    )
    assert actions(await am.post(body)) == ["triggered"]
    incident = await am.incident(group_key)
    assert incident["title"] == "HighErrorRate (2 alerts)" and incident["urgency"] == "HIGH"
    resolved = {**body, "status": "resolved"}
    resolved["alerts"] = [{**a, "status": "resolved"} for a in body["alerts"]]
    assert actions(await am.post(resolved)) == ["resolved"]
    await am.incident(group_key, "RESOLVED")


async def test_grafana_alert_with_links_and_image(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    grafana = await create(http, admin, "grafana")
    alert = grafana_alert(severity="error")
    assert actions(await grafana.post(grafana_notification(alert))) == ["triggered"]
    incident = await grafana.incident(alert["fingerprint"])
    assert (incident["title"], incident["urgency"]) == ("Memory above 90% on db-1", "MEDIUM")
    [stored] = incident["alerts"]
    assert stored["client"] == "Grafana"
    assert [link["text"] for link in stored["links"]] == [
        "Source",
        "Dashboard",
        "Panel",
        "Silence",
        "Grafana",
    ]
    assert stored["images"] == [
        {"src": alert["imageURL"], "href": alert["panelURL"], "alt": "HighMemoryUsage"}
    ]
    assert stored["payload"]["custom_details"]["valueString"] == alert["valueString"]
    resolved = grafana_notification({**alert, "status": "resolved"})
    assert actions(await grafana.post(resolved)) == ["resolved"]


def grafana_signature(body: bytes, timestamp: str | None = None) -> str:
    signed = body if timestamp is None else f"{timestamp}:".encode() + body
    return hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()


async def test_signed_grafana_integration(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    grafana = await create(http, admin, "grafana", signing_secret=SECRET)
    alert = grafana_alert()
    raw = json.dumps(grafana_notification(alert)).encode()

    for headers in ({}, {"X-Grafana-Alerting-Signature": "0" * 64}):
        refused = await grafana.post_raw(raw, **headers)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "INVALID_SIGNATURE"
    assert await grafana.incidents() == []

    ts = str(int(time.time()))
    signed = await grafana.post_raw(
        raw,
        **{
            "X-Grafana-Alerting-Signature": grafana_signature(raw, ts),
            "X-Grafana-Alerting-Timestamp": ts,
        },
    )
    assert actions(signed) == ["triggered"]
    plain = await grafana.post_raw(raw, **{"X-Grafana-Alerting-Signature": grafana_signature(raw)})
    assert actions(plain) == ["deduplicated"]
    await grafana.incident(alert["fingerprint"])


GENERIC_CONFIG = {
    "dedupKey": "$.check.id",
    "summary": "$.message",
    "severity": "$.level",
    "action": "$.state",
    "actionMap": {"down": "trigger", "up": "resolve"},
}


async def test_generic_json_trigger_acknowledge_resolve(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    generic = await create(http, admin, "generic", GENERIC_CONFIG)
    check_id = f"chk_{uuid.uuid4().hex[:8]}"
    body = {"check": {"id": check_id}, "state": "DOWN", "level": "P1", "message": "API down"}
    assert actions(await generic.post(body)) == ["triggered"]
    incident = await generic.incident(check_id)
    assert (incident["title"], incident["urgency"]) == ("API down", "HIGH")
    assert incident["alerts"][0]["payload"]["custom_details"] == body
    assert actions(await generic.post({**body, "state": "ack"})) == ["acknowledged"]
    await generic.incident(check_id, "ACKNOWLEDGED")
    assert actions(await generic.post({**body, "state": "Up"})) == ["resolved"]
    await generic.incident(check_id, "RESOLVED")

    unknown = await generic.post({**body, "state": "sideways"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "INVALID_PAYLOAD"
    assert "unknown value 'sideways'" in unknown.json()["error"]["message"]


async def test_generic_json_alerts_list(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    config = {"alerts": "$.results", "dedupKey": "host", "summary": "output", "action": "state"}
    generic = await create(http, admin, "generic", config)
    hosts = [f"db-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    body = {"results": [{"host": h, "state": "problem", "output": f"{h} down"} for h in hosts]}
    assert actions(await generic.post(body)) == ["triggered", "triggered"]
    for host in hosts:
        assert (await generic.incident(host))["title"] == f"{host} down"


async def test_signed_generic_integration(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    generic = await create(http, admin, "generic", {"dedupKey": "$.id"}, signing_secret=SECRET)
    raw = json.dumps({"id": f"k-{uuid.uuid4().hex[:8]}"}).encode()
    digest = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert (await generic.post_raw(raw)).status_code == 401
    assert (await generic.post_raw(raw, **{"X-Signature": "sha256=" + "0" * 64})).status_code == 401
    assert actions(await generic.post_raw(raw, **{"X-Signature": f"sha256={digest}"})) == [
        "triggered"
    ]
    assert actions(await generic.post_raw(raw, **{"X-Signature": digest})) == ["deduplicated"]


async def test_unknown_other_type_and_revoked_keys_are_404(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    am = await create(http, admin, "alertmanager")
    body = alertmanager_notification()
    for path in (
        f"/api/integrations/alertmanager/{uuid.uuid4().hex}",
        f"/api/integrations/grafana/{am.key}",
        f"/api/integrations/generic/{am.key}",
    ):
        response = await http.post(path, json=body)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "INTEGRATION_NOT_FOUND"
    revoked = await http.delete(
        f"/api/services/{am.service_id}/integrations/{am.integration_id}", headers=admin
    )
    assert revoked.status_code == 200
    after = await am.post(body)
    assert after.status_code == 404 and after.json()["error"]["code"] == "INTEGRATION_NOT_FOUND"
    assert await am.incidents() == []


async def test_bad_bodies_change_nothing(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    am = await create(http, admin, "alertmanager")
    malformed = await am.post_raw(b'{"alerts": [')
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "INVALID_JSON"

    good, bad = alertmanager_alert(), alertmanager_alert()
    bad["labels"] = ["not", "an", "object"]
    mixed = await am.post(alertmanager_notification(good, bad))
    assert mixed.status_code == 400
    assert mixed.json()["error"]["code"] == "INVALID_PAYLOAD"
    assert "alerts[1].labels: must be an object" in mixed.json()["error"]["message"]

    padding = "x" * (513 * 1024)
    big = alertmanager_notification(alertmanager_alert(summary=padding))
    assert (await am.post(big)).status_code == 413

    # Nothing was submitted: the good alert of the mixed body opened no incident.
    await asyncio.sleep(0.5)
    assert await am.incidents() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "alertmanager", "config": {"groupBy": "cluster"}}, "config.groupBy"),
        ({"type": "grafana", "config": {"groupby": "group"}}, "config.groupby"),
        ({"type": "generic", "config": {}}, "config.dedupKey"),
        ({"type": "generic", "config": {"dedupKey": "$["}}, "config.dedupKey"),
        ({"type": "generic", "config": {"dedupKey": "$.id", "summary": "a b"}}, "config.summary"),
        (
            {"type": "generic", "config": {"dedupKey": "$.id", "actionMap": {"x": "page"}}},
            "config.actionMap.x",
        ),
        ({"type": "alertmanager", "signingSecret": "long-enough-secret"}, "signingSecret"),
    ],
)
async def test_bad_options_are_refused_naming_the_field(
    http: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    service = await http.post(
        "/api/services", json={"name": f"svc-{uuid.uuid4().hex[:8]}"}, headers=admin
    )
    service_id = service.json()["id"]
    response = await http.post(
        f"/api/services/{service_id}/integrations", json={"name": "x", **body}, headers=admin
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field
    listing = await http.get(f"/api/services/{service_id}/integrations", headers=admin)
    assert listing.json()["integrations"] == []


async def test_generic_options_can_be_changed(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    generic = await create(http, admin, "generic", {"dedupKey": "$.id"})
    path = f"/api/services/{generic.service_id}/integrations/{generic.integration_id}"
    bad = await http.patch(path, json={"config": {"dedupKey": "$.["}}, headers=admin)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "config.dedupKey"
    good = await http.patch(path, json={"config": {"dedupKey": "$.ref"}}, headers=admin)
    assert good.status_code == 200 and good.json()["config"] == {"dedupKey": "$.ref"}
    ref = f"r-{uuid.uuid4().hex[:8]}"
    assert actions(await generic.post({"ref": ref})) == ["triggered"]
    await generic.incident(ref)


async def test_generic_signature_in_a_configured_header(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    config = {"dedupKey": "$.id", "signatureHeader": "X-Hub-Signature-256"}
    generic = await create(http, admin, "generic", config, signing_secret=SECRET)
    raw = json.dumps({"id": f"k-{uuid.uuid4().hex[:8]}"}).encode()
    digest = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    signed = await generic.post_raw(raw, **{"X-Hub-Signature-256": f"sha256={digest}"})
    assert actions(signed) == ["triggered"]
