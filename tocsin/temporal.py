"""Connecting to Temporal, the same way (and with the same data converter) everywhere."""

import asyncio
import logging

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from tocsin.settings import Settings
from workflows import search_attributes

log = logging.getLogger(__name__)

# Backoff between attempts of connect_waiting: the first retries are quick (a server that
# is restarting), later ones every 10 s.
FIRST_RETRY_SECONDS = 0.5
LAST_RETRY_SECONDS = 10.0


def temporal_address(settings: Settings) -> str:
    return settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """``runtime``: where the SDK's metrics go (tocsin/temporal_telemetry.py); default the
    SDK's default runtime."""
    return await Client.connect(
        temporal_address(settings),
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )


async def connect_waiting(settings: Settings, runtime: Runtime | None = None) -> Client:
    """``connect``, retried with backoff for as long as the server is unreachable.

    Once connected the SDK rides out an outage by itself, but its first connection fails at
    once: a worker or API process started while Temporal is down or restarting (a deploy, a
    host reboot, docker compose starting everything together) would exit instead of waiting.
    The CLI's one-off commands use ``connect`` and fail fast.
    """
    delay = FIRST_RETRY_SECONDS
    while True:
        try:
            return await connect(settings, runtime)
        except RuntimeError as err:  # the bridge's "Failed client connect: ..."
            log.warning(
                "Temporal at %s unreachable, retrying in %.1f s: %s",
                temporal_address(settings),
                delay,
                err,
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, LAST_RETRY_SECONDS)


async def register_search_attributes(client: Client, namespace: str) -> None:
    """Idempotently add Tocsin's search attributes (the dev server gets them at start)."""
    request = AddSearchAttributesRequest(
        namespace=namespace,
        search_attributes={
            key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in search_attributes.ALL
        },
    )
    try:
        await client.operator_service.add_search_attributes(request)
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise


def dev_server_search_attribute_args() -> list[str]:
    args: list[str] = []
    for key in search_attributes.ALL:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    return args
