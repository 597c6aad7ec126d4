"""The curl examples of seeds 000, 001 and 002, verbatim but for host and keys, run by curl."""

import asyncio
import json
import shutil

import httpx
import pytest

from tests.conftest import Tenant

SEED_000_TRIGGER = """curl -X POST https://your-ops.com/api/events \\
  -H "Authorization: Bearer YOUR_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "routing_key": "abc123",
    "event_action": "trigger",
    "dedup_key": "server-cpu-high",
    "payload": {
      "summary": "CPU usage above 90%",
      "source": "prometheus",
      "severity": "critical"
    }
  }'"""

SEED_000_ACK = """curl -X POST https://your-ops.com/api/events \\
  -H "Authorization: Bearer YOUR_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "routing_key": "abc123",
    "event_action": "acknowledge",
    "dedup_key": "server-cpu-high"
  }'"""

SEED_000_RESOLVE = """curl -X POST https://your-ops.com/api/events \\
  -H "Authorization: Bearer YOUR_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "routing_key": "abc123",
    "event_action": "resolve",
    "dedup_key": "server-cpu-high"
  }'"""

SEED_001_TRIGGER = """curl -X POST https://your-opsknight.com/api/events \\
  -H "Authorization: Token token=YOUR_INTEGRATION_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "event_action": "trigger",
    "dedup_key": "database-connection-timeout",
    "payload": {
      "summary": "Database connection timeout on primary",
      "source": "monitoring-agent",
      "severity": "critical",
      "custom_details": {
        "database": "postgres-primary",
        "timeout_ms": 30000
      }
    }
  }'"""

SEED_001_RESOLVE = """curl -X POST https://your-opsknight.com/api/events \\
  -H "Authorization: Token token=YOUR_INTEGRATION_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "event_action": "resolve",
    "dedup_key": "database-connection-timeout",
    "payload": {
      "summary": "Database connection restored",
      "source": "monitoring-agent",
      "severity": "info"
    }
  }'"""

SEED_002_TRIGGER = """curl -X POST https://your-ops.com/api/events \\
  -H "Authorization: Bearer YOUR_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "routing_key": "SERVICE_ROUTING_KEY",
    "event_action": "trigger",
    "dedup_key": "cpu-high",
    "payload": {
      "summary": "CPU usage above 90%",
      "source": "prometheus",
      "severity": "warning"
    }
  }'"""

SEED_003_LIST = """curl -H "Authorization: Bearer YOUR_API_KEY" \\
  "https://your-ops.com/api/incidents?limit=25&status=triggered\""""

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


async def run_curl(example: str, api_url: str, tenant: Tenant) -> dict:
    command = (
        example.replace("https://your-ops.com", api_url)
        .replace("https://your-opsknight.com", api_url)
        .replace("YOUR_API_KEY", tenant.api_key)
        .replace("YOUR_INTEGRATION_KEY", tenant.integration_key)
        .replace("abc123", tenant.integration_key)
        .replace("SERVICE_ROUTING_KEY", tenant.integration_key)
    )
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", command + " --silent --show-error --fail-with-body",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out
    return json.loads(out)


async def test_seed_000_trigger_acknowledge_resolve(api_url: str, tenant: Tenant) -> None:
    triggered = await run_curl(SEED_000_TRIGGER, api_url, tenant)
    assert triggered["status"] == "success" and triggered["message"] == "Event processed"
    assert triggered["dedup_key"] == "server-cpu-high"
    assert triggered["result"]["action"] == "triggered"
    assert triggered["result"]["incident"]["urgency"] == "HIGH"
    incident_key = triggered["incident_key"]
    acked = await run_curl(SEED_000_ACK, api_url, tenant)
    assert acked["result"]["action"] == "acknowledged" and acked["incident_key"] == incident_key
    resolved = await run_curl(SEED_000_RESOLVE, api_url, tenant)
    assert resolved["result"]["action"] == "resolved"
    assert resolved["result"]["incident"]["status"] == "RESOLVED"


async def test_seed_001_trigger_resolve(
    api_url: str, tenant: Tenant, http: httpx.AsyncClient
) -> None:
    triggered = await run_curl(SEED_001_TRIGGER, api_url, tenant)
    assert triggered["result"]["action"] == "triggered"
    assert triggered["result"]["incident"]["title"] == "Database connection timeout on primary"
    resolved = await run_curl(SEED_001_RESOLVE, api_url, tenant)
    assert resolved["result"]["action"] == "resolved"
    detail = (
        await http.get(f"/api/incidents/{triggered['incident_key']}", headers=tenant.bearer)
    ).json()
    assert json.loads(detail["description"]) == {
        "database": "postgres-primary",
        "timeout_ms": 30000,
    }


async def test_seed_002_trigger_and_seed_003_list(api_url: str, tenant: Tenant) -> None:
    triggered = await run_curl(SEED_002_TRIGGER, api_url, tenant)
    assert triggered["result"]["incident"]["urgency"] == "MEDIUM"
    listed = await run_curl(SEED_003_LIST, api_url, tenant)
    assert triggered["incident_key"] in [i["id"] for i in listed["incidents"]]
    assert listed["total"] >= 1
