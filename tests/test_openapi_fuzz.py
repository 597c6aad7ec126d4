"""Schemathesis over /openapi.json: no 5xx and no response outside the documented schema,
for single calls (examples, coverage, fuzzing) and for chains of calls (stateful: the links
schemathesis infers from response schemas and path parameters, e.g. POST /api/incidents →
GET/PATCH /api/incidents/{incident_id}, POST /api/services → GET/PATCH/DELETE
/api/services/{service_id})."""

import asyncio
import contextlib
import re
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError

from tests.conftest import Tenant, make_api_key
from tocsin.settings import Settings
from web.app import create_app
from web.openapi_links import CREATES

ST = Path(sys.executable).parent / "st"
# Bounded for a loaded 2-core machine (about two minutes): few cases per operation, more
# scenarios for the stateful phase, whose scenarios each chain several calls. The stateful
# phase is not derandomized (Hypothesis then ended it after about 15 scenarios) but run with
# a fixed seed (``--seed`` below), so how far it gets is the same on every run.
CONFIG = """
[generation]
max-examples = 10
deterministic = true

[phases.stateful]
max-steps = 10

[phases.stateful.generation]
max-examples = 100
deterministic = false
"""


async def close_incidents_no_worker_serves(client: Client, settings: Settings) -> None:
    """The fuzzer's admin key reaches every service, and deleting one with ``force`` resolves
    its incidents through their workflows. Earlier tests leave incidents on task queues of
    workers that are gone (killed on purpose, or stopped with their test): no worker would
    ever apply those resolves (a 503 after the wait), so they are closed first."""
    query = f"ExecutionStatus = 'Running' AND TaskQueue != '{settings.task_queue}'"
    async for execution in client.list_workflows(query):
        with contextlib.suppress(RPCError):  # closed meanwhile
            await client.get_workflow_handle(execution.id, run_id=execution.run_id).terminate(
                reason="a test left it on a task queue no worker serves"
            )


async def test_schemathesis_finds_no_server_errors(
    api_url: str,
    engine: AsyncEngine,
    client: Client,
    settings: Settings,
    tenant: Tenant,
    tmp_path: Path,
) -> None:
    await close_incidents_no_worker_serves(client, settings)
    key = await make_api_key(engine, ["admin"])
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    proc = await asyncio.create_subprocess_exec(
        str(ST), "--config-file", str(config), "run", f"{api_url}/openapi.json",
        "--header", f"Authorization: Bearer {key}",
        "--checks", "not_a_server_error,response_schema_conformance",
        "--phases", "examples,coverage,fuzzing,stateful",
        # A forced service delete resolves each open incident through its workflow: on a
        # loaded machine that took longer than the default 10 s (a slow answer, not an error).
        "--request-timeout", "60",
        # Unseeded, the stateful phase covered 20 to 45 links from run to run (the check below
        # failed once); with this seed it covers 35 every time.
        "--seed", "3",
        "--report-dir", str(tmp_path),
        cwd=tmp_path,  # schemathesis keeps a cache in its working directory
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=600)
    text = out.decode()
    assert proc.returncode == 0, text[-6000:]
    # The stateful phase really chained calls along links.
    covered = re.search(r"API Links:\s+(\d+) covered", text)
    stateful = text[text.find("Stateful (in") :][:300]
    assert covered and int(covered.group(1)) >= 25, stateful
    print(stateful)


async def test_operation_ids_are_unique_and_creates_link_to_what_they_made() -> None:
    client = create_app(Settings(secret_key="x")).test_client()
    document = await (await client.get("/openapi.json")).get_json()
    operations = [
        op for ops in document["paths"].values() for op in ops.values() if "operationId" in op
    ]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    for path, param in CREATES.items():
        links = document["paths"][path]["post"]["responses"]["201"]["links"]
        assert links and set(links) <= set(ids), path
        for link in links.values():
            assert link["parameters"][param] == "$response.body#/id"
    get_service = document["paths"]["/api/services/{service_id}"]["get"]["operationId"]
    assert get_service in document["paths"]["/api/services"]["post"]["responses"]["201"]["links"]
