"""Metrics and logs on the real stack: the API's /metrics after real events, `tocsin worker`
(two processes) serving one /metrics with Tocsin's and the Temporal SDK's metrics, and JSON
log lines that carry the request, incident and workflow ids (docs/observability.md)."""

import asyncio
import io
import json
import logging
import signal
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from tests.app_server import tocsin_env
from tests.conftest import Tenant, free_port, make_tenant, new_key, trigger_body
from tests.fakes.mail_fixtures import MailServer
from tests.paging_helpers import give_policy, make_user
from tests.polling import eventually
from tocsin.logs import JsonFormatter
from tocsin.settings import Settings
from web.commands import IncidentCommands
from workflows.ids import incident_workflow_id
from workflows.messages import AlertIn, ChangeIn, Status

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples that have ``labels`` (0 when there are none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def scrape(
    http: httpx.AsyncClient, url: str = "/metrics", headers: dict[str, str] | None = None
) -> Samples:
    response = await http.get(url, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def test_api_metrics_count_events_latency_and_open_incidents(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    before = await scrape(http)
    body = trigger_body(new_key(), severity="critical")
    first = await http.post("/api/events", json=body, headers=tenant.token)
    again = await http.post("/api/events", json=body, headers=tenant.token)
    refused = await http.post("/api/events", json={"event_action": "x"}, headers=tenant.token)
    assert (first.status_code, again.status_code, refused.status_code) == (202, 202, 400)
    incident = first.json()["result"]["incident"]["id"]
    await http.get(f"/api/incidents/{incident}", headers=tenant.bearer)  # read side has it

    after = await scrape(http)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("tocsin_events_total", action="trigger", result="triggered") == 1
    assert moved("tocsin_events_total", action="trigger", result="deduplicated") == 1
    assert moved("tocsin_events_total", result="rejected") == 1
    latency = "tocsin_ingest_duration_seconds"
    assert moved(f"{latency}_count", endpoint="events.post_event", status="202") == 2
    assert moved(f"{latency}_count", endpoint="events.post_event", status="400") == 1
    assert value(after, f"{latency}_bucket", endpoint="events.post_event", le="+Inf") >= 3
    assert value(after, "tocsin_open_incidents", urgency="HIGH", status="OPEN") >= 1


async def test_rate_limited_requests_are_counted(
    http: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    noisy = await make_tenant(engine)
    before = value(await scrape(http), "tocsin_rate_limited_requests_total")
    body = {"event_action": "acknowledge", "dedup_key": new_key()}
    responses = await asyncio.gather(
        *(
            http.post("/api/events", json=body, headers=noisy.token)
            for _ in range(settings.rate_limit_requests + 1)
        )
    )
    assert [r.status_code for r in responses].count(429) == 1
    after = await scrape(http)
    assert value(after, "tocsin_rate_limited_requests_total", endpoint="events.post_event") >= 1
    assert value(after, "tocsin_rate_limited_requests_total") - before == 1


@contextmanager
def json_lines(logger: str) -> Iterator[io.StringIO]:
    """Lines ``logger`` writes meanwhile, formatted as `tocsin api` formats them."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    target = logging.getLogger(logger)
    level = target.level
    target.addHandler(handler)
    target.setLevel(logging.INFO)
    try:
        yield out
    finally:
        target.removeHandler(handler)
        target.setLevel(level)


async def test_api_log_lines_are_json_with_request_and_incident_ids(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    request_id = f"req-{uuid.uuid4().hex}"
    with json_lines("tocsin") as out:
        response = await http.post(
            "/api/events",
            json=trigger_body(new_key()),
            headers={**tenant.token, "X-Request-ID": request_id},
        )
        unnamed = await http.post("/api/events", json=trigger_body(new_key()), headers=tenant.token)
    assert response.status_code == 202 and response.headers["X-Request-ID"] == request_id
    generated = unnamed.headers["X-Request-ID"]
    assert generated and generated != request_id
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    mine = [line for line in lines if line.get("request_id") == request_id]
    assert len(mine) == 1, lines
    (line,) = mine
    assert line["incident_id"] == response.json()["result"]["incident"]["id"]
    assert line["level"] == "INFO" and line["logger"] == "tocsin.ingest"
    assert line["message"].startswith("event trigger: triggered")
    datetime.fromisoformat(line["timestamp"])
    # The next request on the same connection starts afresh: its own id, its own incident.
    (other,) = [line for line in lines if line.get("request_id") == generated]
    assert other["incident_id"] == unnamed.json()["result"]["incident"]["id"]


async def test_repeated_alerts_log_at_debug_only(http: httpx.AsyncClient, tenant: Tenant) -> None:
    """A storm on one key must not write a line per repeat at INFO; a change does."""
    key = new_key()
    with json_lines("tocsin") as out:
        first = await http.post("/api/events", json=trigger_body(key), headers=tenant.token)
        for _ in range(3):
            again = await http.post("/api/events", json=trigger_body(key), headers=tenant.token)
            assert again.json()["result"]["action"] == "deduplicated"
    assert first.json()["result"]["action"] == "triggered"
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    ingest = [line for line in lines if line["logger"] == "tocsin.ingest"]
    assert [line["message"].split(" (")[0] for line in ingest] == ["event trigger: triggered"]


async def test_worker_metrics_and_json_logs(
    client: Client,
    engine: AsyncEngine,
    settings: Settings,
    tenant: Tenant,
    smtp_server: MailServer,
    tmp_path: Path,
) -> None:
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    port = free_port()
    log_file = tmp_path / "worker.log"
    env = tocsin_env(
        settings,
        TOCSIN_TASK_QUEUE=queue,
        TOCSIN_WORKER_PROCESSES="2",
        TOCSIN_WORKER_METRICS_PORT=str(port),
        TOCSIN_DATA_DIR=str(tmp_path / "data"),
        TOCSIN_LOG_FORMAT="json",
    )
    person = await make_user(engine, "mia", rules={"HIGH": ["email"]})
    await give_policy(engine, tenant.service_id, [(5, [("user", person.id)])])
    commands = IncidentCommands(client, queue)
    key = new_key()
    with log_file.open("w") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tocsin.cli", "worker", env=env, stdout=log, stderr=log
        )
    try:
        alert = AlertIn(
            summary="disk", source="t", severity="critical", received_at=datetime.now(UTC)
        )
        outcome = await commands.trigger(tenant.service_id, key, alert)
        await eventually(lambda: smtp_server.to(person.email), "the page by email", 60)

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as worker_http:

            async def counted() -> Samples | None:
                samples = await scrape(worker_http)
                sent = value(samples, "tocsin_notifications_total", channel="email", purpose="page")
                # The SDK's metrics are copied in every second (tocsin/temporal_telemetry.py).
                sdk = value(samples, "temporal_workflow_task_execution_latency_count")
                return samples if sent >= 1 and sdk >= 1 else None

            samples = await eventually(counted, "the page and the SDK's metrics", 30)
        assert value(samples, "tocsin_notifications_total", channel="email", outcome="sent") == 1
        lateness = "tocsin_escalation_page_lateness_seconds"
        assert value(samples, f"{lateness}_count", channel="email") == 1
        # The page went out within seconds of the incident (its first step is due at once).
        assert value(samples, f"{lateness}_bucket", channel="email", le="30.0") == 1
        names = {name for name, _ in samples}
        assert any(n.startswith("temporal_activity_execution_latency") for n in names)
        assert value(samples, "temporal_num_pollers", task_queue=queue) > 0
        workflow_id = incident_workflow_id(tenant.service_id, key)
        await commands.change(workflow_id, outcome.incident_id, ChangeIn(status=Status.RESOLVED))
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 60)

    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    assert all({"timestamp", "level", "logger", "message"} <= line.keys() for line in lines)
    ids = {"incident_id": outcome.incident_id, "workflow_id": workflow_id}
    escalated = [line for line in lines if line["message"].startswith("escalation step 1")]
    assert escalated and all(ids.items() <= line.items() for line in escalated), lines
    paged = [line for line in lines if line["message"].startswith("notification ")]
    assert paged and all(ids.items() <= line.items() for line in paged), lines
    assert paged[0]["activity_type"] and paged[0]["run_id"]


async def test_api_processes_share_one_metrics_view_and_log_access_as_json(
    settings: Settings, tenant: Tenant, tmp_path: Path
) -> None:
    """`tocsin api` with two processes: every scrape, whichever process answers it, counts
    the events every process received; the metrics token is required when set; access lines
    are JSON with the request id."""
    port = free_port()
    log_file = tmp_path / "api.log"
    env = tocsin_env(
        settings,
        TOCSIN_PORT=str(port),
        TOCSIN_API_WORKERS="2",
        TOCSIN_DATA_DIR=str(tmp_path / "data"),
        TOCSIN_ACCESS_LOG="true",
        TOCSIN_LOG_FORMAT="json",
        TOCSIN_METRICS_TOKEN="scrape-secret",
    )
    with log_file.open("w") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tocsin.cli", "api", env=env, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"
    sent = 12
    try:
        await eventually(lambda: _answers(f"{url}/healthz"), "tocsin api", 90)
        request_ids = []
        for _ in range(sent):
            # A connection each, so the processes share the requests.
            async with httpx.AsyncClient(base_url=url, timeout=30) as one:
                response = await one.post(
                    "/api/events", json=trigger_body(new_key()), headers=tenant.token
                )
            assert response.status_code == 202
            request_ids.append(response.headers["X-Request-ID"])
        scraper = {"Authorization": "Bearer scrape-secret"}
        for _ in range(4):
            async with httpx.AsyncClient(base_url=url, timeout=30) as one:
                samples = await scrape(one, headers=scraper)
            assert value(samples, "tocsin_events_total", action="trigger") == sent
            count = "tocsin_ingest_duration_seconds_count"
            assert value(samples, count, endpoint="events.post_event", status="202") == sent
        async with httpx.AsyncClient(base_url=url, timeout=30) as one:
            assert (await one.get("/metrics")).status_code == 401
            wrong = {"Authorization": "Bearer nope"}
            assert (await one.get("/metrics", headers=wrong)).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 60)

    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "hypercorn.access"]
    posted = {line["request_id"]: line for line in access if line.get("method") == "POST"}
    assert set(request_ids) <= posted.keys(), access
    assert {posted[r]["status"] for r in request_ids} == {202}
    ingest = [line for line in lines if line["logger"] == "tocsin.ingest"]
    assert {line["request_id"] for line in ingest} == set(request_ids)
    assert all(line["incident_id"].startswith("inc_") for line in ingest)


async def _answers(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as probe:
            return (await probe.get(url)).status_code == 200
    except httpx.TransportError:
        return False
