"""``POST /api/integrations/<type>/<integration key>``: monitoring tools in their own format.

The key in the URL is the credential (senders such as Alertmanager and Grafana cannot set
an Authorization header everywhere), so an unknown, revoked or other-type key is one 404.
A body is parsed completely before anything is submitted, so a malformed payload changes
nothing; events for one dedup key are submitted in order.
"""

import asyncio
from collections import defaultdict
from typing import Any

from pydantic import ValidationError
from quart import Blueprint, Response, request
from quart_schema import document_response, tag

from models import Integration
from tocsin.secret_box import SecretBoxUnavailable, unseal
from web.bodies import decode_json, json_answer
from web.errors import ApiError, error_responses
from web.ingest import Submitted, submit
from web.integration_schemas import IngestedEvent, IntegrationEventsResponse
from web.integrations.config import AdapterConfig
from web.integrations.event import InboundEvent, InvalidPayload
from web.integrations.registry import ADAPTERS, Adapter
from web.runtime import Runtime, runtime

blueprint = Blueprint("native_integrations", __name__)

NOT_FOUND = ApiError(404, "INTEGRATION_NOT_FOUND", "No integration of this type with this key")


@blueprint.post("/api/integrations/<integration_type>/<key>")
@tag(["events"])
@document_response(IntegrationEventsResponse, 202)
@error_responses(400, 401, 404, 413, 429, 503)
async def receive(integration_type: str, key: str) -> Response:
    """Ingest a sender's native payload (Alertmanager, Grafana, Datadog, Sentry, CloudWatch
    via SNS, or generic JSON); docs/integrations.md shows each sender's configuration."""
    rt = runtime()
    adapter = ADAPTERS.get(integration_type)
    if adapter is None:
        raise NOT_FOUND
    integration = await rt.config.integration(key, integration_type)
    if integration is None:
        raise NOT_FOUND
    raw = await request.get_data(as_text=False)
    assert isinstance(raw, bytes)
    headers = {name.lower(): value for name, value in request.headers.items()}
    # Validated when it was set; validating again gives the adapter its typed options.
    config = adapter.config.model_validate(integration.config)
    _check_signature(rt, adapter, integration, config, headers, raw)
    retry_after = await rt.limiter.acquire(f"integration:{integration.id}")
    if retry_after is not None:
        raise ApiError(
            429, "RATE_LIMITED", "Rate limit exceeded.", headers={"Retry-After": str(retry_after)}
        )
    body = decode_json(raw)
    if adapter.envelope is not None:
        body = await adapter.envelope(headers, body, rt.settings)
        if body is None:
            return json_answer(IntegrationEventsResponse(events=[]), 202)
    events = _parse(adapter, config, body)
    submitted = await _submit_all(rt, integration, events)
    response = IntegrationEventsResponse(
        events=[
            IngestedEvent(dedup_key=s.dedup_key, action=s.action, incident=s.incident)
            for s in submitted
        ]
    )
    return json_answer(response, 202)


def _check_signature(
    rt: Runtime,
    adapter: Adapter,
    integration: Integration,
    config: AdapterConfig,
    headers: dict[str, str],
    raw: bytes,
) -> None:
    if integration.signing_secret is None or adapter.verify is None:
        return
    try:
        secret = unseal(rt.settings, integration.signing_secret)
    except SecretBoxUnavailable as err:
        raise ApiError(
            503, "SIGNING_SECRET_UNAVAILABLE", "The integration's signing secret cannot be read"
        ) from err
    if not adapter.verify(headers, raw, secret, config):
        raise ApiError(401, "INVALID_SIGNATURE", "Request signature is missing or invalid")


def _parse(adapter: Adapter, config: AdapterConfig, body: Any) -> list[InboundEvent]:
    try:
        return adapter.parse(body, config)
    except InvalidPayload as err:
        raise ApiError(400, "INVALID_PAYLOAD", f"Invalid payload: {err}") from err
    except ValidationError as err:
        # An adapter building an event from out-of-range values (a dedup key too long).
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ApiError(400, "INVALID_PAYLOAD", f"Invalid payload: {field}: {first['msg']}") from err


async def _submit_all(
    rt: Runtime, integration: Integration, events: list[InboundEvent]
) -> list[Submitted]:
    """Keys in parallel, each key's events in the order the sender listed them."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for index, event in enumerate(events):
        by_key[event.dedup_key].append(index)
    results: dict[int, Submitted] = {}
    actor = f"integration:{integration.id}"

    async def one_key(indexes: list[int]) -> None:
        for index in indexes:
            results[index] = await submit(rt, integration.service_id, actor, events[index])

    await asyncio.gather(*(one_key(indexes) for indexes in by_key.values()))
    return [results[index] for index in range(len(events))]
