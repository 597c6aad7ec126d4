"""Liveness and readiness probes."""

import asyncio
from datetime import timedelta
from typing import Any

from quart import Blueprint
from sqlalchemy import text
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from web.runtime import runtime

blueprint = Blueprint("health", __name__)

PROBE_TIMEOUT_SECONDS = 2.0


@blueprint.get("/healthz")
async def healthz() -> dict[str, Any]:
    """The process is up."""
    return {"status": "ok"}


@blueprint.get("/readyz")
async def readyz() -> tuple[dict[str, Any], int]:
    """Ready when both PostgreSQL and Temporal answer; 503 otherwise."""
    checks = {"database": await _database_ok(), "temporal": await _temporal_ok()}
    ready = all(checks.values())
    return {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503


async def _database_ok() -> bool:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            async with runtime().engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


async def _temporal_ok() -> bool:
    try:
        await runtime().client.workflow_service.get_system_info(
            GetSystemInfoRequest(), timeout=timedelta(seconds=PROBE_TIMEOUT_SECONDS)
        )
        return True
    except Exception:
        return False
