"""Which enabled rule, if any, suppresses a trigger.

The ingest path reads a service's rules through web/config_cache.py (one indexed query,
``ix_suppression_rule_service_id``, per service and cache period); parsed specs are cached
by (rule id, updated_at): a rule is parsed again only after it changed.
"""

import logging
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from models import SuppressionRule
from web.suppression_match import SuppressionSpec, first_matching_rule

log = logging.getLogger("tocsin.suppression")

_MAX_CACHED = 10_000
_specs: dict[tuple[str, datetime], SuppressionSpec | None] = {}


def rule_order() -> tuple[Any, Any]:
    """Rules are evaluated, and listed, oldest first."""
    return col(SuppressionRule.created_at), col(SuppressionRule.id)


async def suppressing_rule(
    engine: AsyncEngine, service_id: str, payload: dict[str, Any], now: datetime
) -> str | None:
    """The id of the first (oldest) enabled rule of the service that matches the trigger
    ``payload`` (the Events API ``payload``: summary, source, severity, custom_details) at
    ``now`` (timezone-aware), or None. Database errors propagate."""
    return first_matching_rule(await enabled_rules(engine, service_id), payload, now)


async def enabled_rules(engine: AsyncEngine, service_id: str) -> list[tuple[str, SuppressionSpec]]:
    """The service's enabled rules, oldest first, parsed (what the ingest path caches)."""
    query = (
        select(col(SuppressionRule.id), col(SuppressionRule.updated_at), col(SuppressionRule.spec))
        .where(
            col(SuppressionRule.service_id) == service_id, col(SuppressionRule.enabled).is_(True)
        )
        .order_by(*rule_order())
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        (rule_id, spec)
        for rule_id, updated_at, data in rows
        if (spec := _spec(rule_id, updated_at, data)) is not None
    ]


def _spec(rule_id: str, updated_at: datetime, data: dict[str, Any]) -> SuppressionSpec | None:
    key = (rule_id, updated_at)
    if key not in _specs:
        if len(_specs) >= _MAX_CACHED:
            _specs.clear()
        try:
            _specs[key] = SuppressionSpec.model_validate(data)
        except ValidationError:
            # Only possible if the row was written around the API (or a time zone vanished
            # from tzdata): skip the rule rather than fail the trigger.
            log.warning("suppression rule %s has an invalid spec; ignored", rule_id)
            _specs[key] = None
    return _specs[key]
