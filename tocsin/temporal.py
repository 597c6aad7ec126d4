"""Connecting to Temporal, the same way (and with the same data converter) everywhere."""

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from tocsin.settings import Settings
from workflows import search_attributes


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
