"""What a new incident costs the worker, counted in its history: local activities are a large
part of the worker's CPU per incident (docs/benchmarks.md), so their number is pinned here."""

import json
from collections import Counter

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from activities.names import FIND_RECIPIENTS, LOAD_ESCALATION_POLICY, PROJECT_INCIDENT
from tests.conftest import Tenant, new_key, trigger_body
from tests.fakes.slack_api import FakeSlack
from tests.paging_helpers import give_policy, make_user, set_service
from tests.polling import eventually
from workflows.ids import incident_workflow_id

COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
MARKER = EventType.EVENT_TYPE_MARKER_RECORDED


async def escalated(http: httpx.AsyncClient, tenant: Tenant, incident_id: str) -> None:
    """Until the read side shows the first step's outcome."""

    async def shown() -> bool:
        found = await http.get(f"/api/incidents/{incident_id}/timeline", headers=tenant.bearer)
        return any(e["kind"] == "escalation" for e in found.json().get("timeline", []))

    await eventually(shown, "the first step on the read side", seconds=10)


def first_task_local_activities(events: list[HistoryEvent]) -> Counter[str]:
    """Local activities (by type) the incident's first workflow task ran."""
    completed = [n for n, e in enumerate(events) if e.event_type == COMPLETED]
    end = completed[1] if len(completed) > 1 else len(events)
    kinds: Counter[str] = Counter()
    for event in events[completed[0] : end]:
        marker = event.marker_recorded_event_attributes
        if event.event_type == MARKER and marker.marker_name == "core_local_activity":
            data = json.loads(marker.details["data"].payloads[0].data)
            kinds[data["activity_type"]] += 1
    return kinds


async def new_incident_history(
    http: httpx.AsyncClient, client: Client, tenant: Tenant
) -> list[HistoryEvent]:
    key = new_key("cost")
    accepted = await http.post("/api/events", json=trigger_body(key), headers=tenant.token)
    assert accepted.status_code == 202
    await escalated(http, tenant, accepted.json()["incident_key"])
    handle = client.get_workflow_handle(incident_workflow_id(tenant.service_id, key))

    async def first_task_recorded() -> list[HistoryEvent] | None:
        # The read-side write is a local activity: it lands before its workflow task
        # completes, so the history may not hold that task yet.
        events = list((await handle.fetch_history()).events)
        return events if any(e.event_type == COMPLETED for e in events) else None

    found: list[HistoryEvent] = await eventually(first_task_recorded, "the first task completed")
    return found


async def test_an_incident_nobody_is_paged_for_costs_one_lookup_and_one_write(
    http: httpx.AsyncClient, client: Client, tenant: Tenant
) -> None:
    events = await new_incident_history(http, client, tenant)
    # The step's policy lookup also brings the channels the Slack and webhook loops need,
    # and the read side is written once, with the step's "nobody to notify" entry.
    assert first_task_local_activities(events) == {LOAD_ESCALATION_POLICY: 1, PROJECT_INCIDENT: 1}


async def test_a_paged_incident_looks_up_its_service_once(
    http: httpx.AsyncClient,
    client: Client,
    engine: AsyncEngine,
    tenant: Tenant,
    slack_api: FakeSlack,
) -> None:
    channel = slack_api.add_channel(new_key("ops"))
    slack_user = slack_api.add_user("Grace")
    grace = await make_user(engine, "grace", slack=slack_user["id"], rules={"HIGH": ["slack"]})
    await set_service(engine, tenant.service_id, slack_channel=channel)
    await give_policy(engine, tenant.service_id, [(30, [("user", grace.id)])])

    events = await new_incident_history(http, client, tenant)
    # Triggered and escalated are announced with the channels the step's lookup read.
    assert first_task_local_activities(events) == {
        LOAD_ESCALATION_POLICY: 1,
        FIND_RECIPIENTS: 1,
        PROJECT_INCIDENT: 1,
    }
