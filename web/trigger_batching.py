"""Coalescing concurrent triggers for one incident into one SignalWithStart.

An alert storm sends the same dedup key hundreds of times a second. One SignalWithStart per
alert would make Temporal's per-workflow signal rate the ceiling (docs/benchmarks.md), so
each API process keeps at most one call in flight per incident workflow
(web/keyed_batches.py): alerts that arrive while it is under way go together in the next, as
one ``triggers`` signal. Every caller is answered only when the call carrying its alert has
returned, so a 202 still means the alert is durable in Temporal.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from web.keyed_batches import KeyedBatcher
from workflows.messages import AlertIn

# Bounds one signal: Temporal refuses payloads over a few MB, and a smaller batch lets the
# workflow write its read side in steady steps. An alert larger than this goes alone.
MAX_BATCH_ALERTS = 200
MAX_BATCH_BYTES = 512 * 1024


@dataclass(frozen=True)
class Batch:
    """What one call sends: the alerts, in arrival order, as one signal argument."""

    first: AlertIn
    payload: Payload
    size: int


R = TypeVar("R")


@dataclass
class _Waiting:
    alert: AlertIn
    encoded: Payload  # the alert alone, as the data converter writes it
    send: Callable[[Batch], Awaitable[Any]]


class TriggerBatcher(Generic[R]):
    def __init__(self, converter: DataConverter) -> None:
        self._converter = converter
        self._batches: KeyedBatcher[_Waiting, tuple[Any, int]] = KeyedBatcher(self._send, _take)

    async def submit(
        self, workflow_id: str, alert: AlertIn, send: Callable[[Batch], Awaitable[R]]
    ) -> tuple[R, int]:
        """Deliver ``alert`` with whatever else is waiting for ``workflow_id``: the answer
        of the call that carried it and its position in that call's batch. ``send`` makes
        the call (the first waiting caller's is used for the whole burst)."""
        (encoded,) = self._converter.payload_converter.to_payloads([alert])
        result, position = await self._batches.submit(workflow_id, _Waiting(alert, encoded, send))
        return result, position

    async def _send(self, _workflow_id: str, taken: list[_Waiting]) -> list[tuple[Any, int]]:
        result = await taken[0].send(await self._batch(taken))
        return [(result, position) for position in range(len(taken))]

    async def _batch(self, taken: list[_Waiting]) -> Batch:
        # A JSON array of the alerts' JSON is what the converter writes for the list.
        first = taken[0]
        data = b"[" + b",".join(w.encoded.data for w in taken) + b"]"
        payload = Payload(metadata=dict(first.encoded.metadata), data=data)
        if self._converter.payload_codec is not None:
            (payload,) = await self._converter.payload_codec.encode([payload])
        return Batch(first=first.alert, payload=payload, size=len(taken))


def _take(waiting: list[_Waiting]) -> int:
    """As many alerts as fit one signal, in arrival order."""
    taken = size = 0
    for item in waiting[:MAX_BATCH_ALERTS]:
        if taken and size + len(item.encoded.data) > MAX_BATCH_BYTES:
            break
        taken += 1
        size += len(item.encoded.data)
    return taken
