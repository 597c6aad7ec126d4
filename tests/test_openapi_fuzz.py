"""Schemathesis over /openapi.json: no 5xx and no response outside the documented schema."""

import asyncio
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Tenant, make_api_key

ST = Path(sys.executable).parent / "st"


async def test_schemathesis_finds_no_server_errors(
    api_url: str, engine: AsyncEngine, tenant: Tenant, tmp_path: Path
) -> None:
    key = await make_api_key(engine, ["admin"])
    proc = await asyncio.create_subprocess_exec(
        str(ST), "run", f"{api_url}/openapi.json",
        "--header", f"Authorization: Bearer {key}",
        "--checks", "not_a_server_error,response_schema_conformance",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", "15",
        "--generation-deterministic",
        "--report-dir", str(tmp_path),
        cwd=tmp_path,  # schemathesis keeps a cache in its working directory
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=600)
    assert proc.returncode == 0, out.decode()[-6000:]
