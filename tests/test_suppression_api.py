"""Suppression rules over HTTP (real API, real PostgreSQL) and the ingest-path lookup."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Tenant, make_api_key, make_tenant
from web.suppression_lookup import suppressing_rule

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def writer(engine: AsyncEngine, tenant: Tenant) -> dict[str, str]:
    return bearer(await make_api_key(engine, ["services:write", "services:read"]))


def rules_url(service_id: str) -> str:
    return f"/api/services/{service_id}/suppression-rules"


async def create(
    http: httpx.AsyncClient, headers: dict[str, str], service_id: str, **body: Any
) -> dict[str, Any]:
    response = await http.post(rules_url(service_id), json=body, headers=headers)
    assert response.status_code == 201, response.text
    rule: dict[str, Any] = response.json()
    return rule


async def test_crud_round_trip(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    headers = await writer(engine, tenant)
    url = rules_url(tenant.service_id)
    rule = await create(
        http,
        headers,
        tenant.service_id,
        name="staging noise",
        severity="info",
        customDetails={"env": "staging"},
        schedule={
            "timezone": "Europe/Berlin",
            "windows": [{"days": ["sat", "sun"], "start": "22:00", "end": "06:00"}],
        },
    )
    assert rule["id"].startswith("sup_")
    assert rule["serviceId"] == tenant.service_id
    assert rule["enabled"] is True
    assert rule["severity"] == ["info"]
    assert rule["summaryRegex"] is None
    assert rule["schedule"]["windows"][0]["start"] == "22:00"

    got = await http.get(f"{url}/{rule['id']}", headers=headers)
    assert got.status_code == 200
    assert got.json() == rule

    patched = await http.patch(
        f"{url}/{rule['id']}",
        json={"enabled": False, "summaryContains": "disk", "customDetails": None},
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["enabled"] is False
    assert body["summaryContains"] == "disk"
    assert body["customDetails"] is None
    assert body["severity"] == ["info"]
    assert body["name"] == "staging noise"
    assert body["updatedAt"] > rule["updatedAt"]

    second = await create(http, headers, tenant.service_id, name="b", source="nagios")
    listed = await http.get(url, headers=headers)
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()["suppressionRules"]] == [rule["id"], second["id"]]

    deleted = await http.delete(f"{url}/{rule['id']}", headers=headers)
    assert deleted.status_code == 204
    assert (await http.get(f"{url}/{rule['id']}", headers=headers)).status_code == 404
    listed = await http.get(url, headers=headers)
    assert [r["id"] for r in listed.json()["suppressionRules"]] == [second["id"]]


async def test_read_scope_reads_but_cannot_write(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    rule = await create(http, await writer(engine, tenant), tenant.service_id, name="r", source="x")
    reader = bearer(await make_api_key(engine, ["services:read"]))
    url = rules_url(tenant.service_id)
    assert (await http.get(url, headers=reader)).status_code == 200
    assert (await http.get(f"{url}/{rule['id']}", headers=reader)).status_code == 200
    for response in (
        await http.post(url, json={"name": "n", "source": "x"}, headers=reader),
        await http.patch(f"{url}/{rule['id']}", json={"enabled": False}, headers=reader),
        await http.delete(f"{url}/{rule['id']}", headers=reader),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "MISSING_SCOPE"
    nobody = bearer(await make_api_key(engine, ["incidents:read"]))
    response = await http.get(url, headers=nobody)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "MISSING_SCOPE"
    admin = bearer(await make_api_key(engine, ["admin"]))
    assert (await http.get(url, headers=admin)).status_code == 200
    assert (await http.get(url)).status_code == 401
    integration = await http.get(url, headers=tenant.token)
    assert integration.status_code == 401


async def test_invalid_bodies(http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant) -> None:
    headers = await writer(engine, tenant)
    url = rules_url(tenant.service_id)

    async def error(body: Any, method: str = "POST", path: str = url) -> dict[str, Any]:
        content = body if isinstance(body, bytes) else None
        json_body = None if content is not None else body
        response = await http.request(
            method, path, json=json_body, content=content, headers=headers
        )
        assert response.status_code == 400, response.text
        err: dict[str, Any] = response.json()["error"]
        return err

    bad_regex = await error({"name": "r", "summaryRegex": "(unclosed"})
    assert bad_regex["code"] == "INVALID_REQUEST"
    assert bad_regex["field"] == "summaryRegex"
    assert (await error(b"{not json"))["code"] == "INVALID_JSON"
    no_condition = await error({"name": "r"})
    assert no_condition["code"] == "INVALID_REQUEST"
    assert "field" not in no_condition
    assert "condition" in no_condition["message"]
    assert (await error({"source": "x"}))["field"] == "name"
    window = {"days": ["mon"], "start": "08:00", "end": "09:00"}
    bad_zone = {
        "name": "r",
        "source": "x",
        "schedule": {"timezone": "Nowhere/City", "windows": [window]},
    }
    assert (await error(bad_zone))["field"] == "schedule.timezone"
    assert (await error({"name": "r", "source": "x", "sevrity": "info"}))["field"] == "sevrity"
    assert (await error([1, 2]))["code"] == "INVALID_REQUEST"

    rule = await create(http, headers, tenant.service_id, name="r", source="x")
    rule_url = f"{url}/{rule['id']}"
    assert (await error({"summaryRegex": "[z-a]"}, "PATCH", rule_url))["field"] == "summaryRegex"
    assert (await error({"name": None}, "PATCH", rule_url))["field"] == "name"
    # Clearing the only condition would leave a rule that matches everything.
    assert "condition" in (await error({"source": None}, "PATCH", rule_url))["message"]
    unchanged = await http.get(rule_url, headers=headers)
    assert unchanged.json() == rule


async def test_other_services_and_unknown_ids(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    other = await make_tenant(engine)
    headers = await writer(engine, tenant)
    rule = await create(http, headers, other.service_id, name="r", source="x")

    limited = bearer(
        await make_api_key(engine, ["services:write", "services:read"], [tenant.service_id])
    )
    other_url = rules_url(other.service_id)
    for response in (
        await http.get(other_url, headers=limited),
        await http.post(other_url, json={"name": "n", "source": "x"}, headers=limited),
        await http.get(f"{other_url}/{rule['id']}", headers=limited),
        await http.patch(f"{other_url}/{rule['id']}", json={"enabled": False}, headers=limited),
        await http.delete(f"{other_url}/{rule['id']}", headers=limited),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "SERVICE_ACCESS_DENIED"
    assert (await http.get(rules_url(tenant.service_id), headers=limited)).status_code == 200

    missing_service = await http.get(rules_url("svc_missing"), headers=headers)
    assert missing_service.status_code == 404
    assert missing_service.json()["error"]["code"] == "SERVICE_NOT_FOUND"

    own_url = rules_url(tenant.service_id)
    for method in ("GET", "PATCH", "DELETE"):
        # Unknown id, and another service's rule through this service's URL.
        for rule_id in ("sup_missing", rule["id"]):
            kwargs: dict[str, Any] = {"json": {"enabled": False}} if method == "PATCH" else {}
            response = await http.request(method, f"{own_url}/{rule_id}", headers=headers, **kwargs)
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_routes_are_in_the_openapi_document(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert set(paths["/api/services/{service_id}/suppression-rules"]) >= {"get", "post"}
    assert set(paths["/api/services/{service_id}/suppression-rules/{rule_id}"]) >= {
        "get",
        "patch",
        "delete",
    }


async def test_suppressing_rule_against_the_database(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    headers = await writer(engine, tenant)
    other = await make_tenant(engine)
    trigger = {"summary": "Disk full on db-1", "source": "prometheus", "severity": "warning"}

    assert await suppressing_rule(engine, tenant.service_id, trigger, NOW) is None

    await create(http, headers, other.service_id, name="other service", source="prometheus")
    disabled = await create(
        http, headers, tenant.service_id, name="off", source="prometheus", enabled=False
    )
    later = await create(
        http,
        headers,
        tenant.service_id,
        name="window",
        summaryContains="disk",
        activeFrom=(NOW + timedelta(hours=1)).isoformat(),
    )
    assert await suppressing_rule(engine, tenant.service_id, trigger, NOW) is None
    assert (
        await suppressing_rule(engine, tenant.service_id, trigger, NOW + timedelta(hours=1))
        == later["id"]
    )

    first = await create(http, headers, tenant.service_id, name="regex", summaryRegex=r"db-\d")
    # Both match an hour later: the older rule wins.
    assert (
        await suppressing_rule(engine, tenant.service_id, trigger, NOW + timedelta(hours=1))
        == later["id"]
    )
    assert await suppressing_rule(engine, tenant.service_id, trigger, NOW) == first["id"]

    # Changes apply to the next call (the parsed-spec cache is keyed by updated_at).
    url = rules_url(tenant.service_id)
    await http.patch(f"{url}/{first['id']}", json={"summaryRegex": "web-"}, headers=headers)
    assert await suppressing_rule(engine, tenant.service_id, trigger, NOW) is None
    await http.patch(f"{url}/{disabled['id']}", json={"enabled": True}, headers=headers)
    assert await suppressing_rule(engine, tenant.service_id, trigger, NOW) == disabled["id"]
    await http.delete(f"{url}/{disabled['id']}", headers=headers)
    assert await suppressing_rule(engine, tenant.service_id, trigger, NOW) is None
    assert await suppressing_rule(engine, "svc_missing", trigger, NOW) is None
