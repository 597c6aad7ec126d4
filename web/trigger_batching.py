"""Coalescing concurrent triggers for one incident into one SignalWithStart.

An alert storm sends the same dedup key hundreds of times a second. One SignalWithStart per
alert would make Temporal's per-workflow signal rate the ceiling (docs/benchmarks.md), so
each API process keeps at most one call in flight per incident workflow: alerts that arrive
while it is under way wait for it and then go together, as one ``triggers`` signal. There is
no timer: a lone alert is sent at once, and a batch grows only while the previous call
takes. Every caller is answered only when the call carrying its alert has returned, so a
202 still means the alert is durable in Temporal; if the call fails, every caller of that
batch gets the error and none of them is told otherwise.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

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
    # The call's answer and the alert's position in its batch.
    answer: "asyncio.Future[tuple[Any, int]]"


@dataclass
class _Queue:
    waiting: list[_Waiting] = field(default_factory=list)
    sender: "asyncio.Task[None] | None" = None  # referenced so it is not collected


class TriggerBatcher(Generic[R]):
    def __init__(self, converter: DataConverter) -> None:
        self._converter = converter
        self._queues: dict[str, _Queue] = {}

    async def submit(
        self, workflow_id: str, alert: AlertIn, send: Callable[[Batch], Awaitable[R]]
    ) -> tuple[R, int]:
        """Deliver ``alert`` with whatever else is waiting for ``workflow_id``: the answer
        of the call that carried it and its position in that call's batch. ``send`` makes
        the call (the first waiting caller's is used for the whole burst)."""
        (encoded,) = self._converter.payload_converter.to_payloads([alert])
        answer: asyncio.Future[tuple[Any, int]] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(workflow_id)
        if queue is None:
            queue = self._queues[workflow_id] = _Queue()
            queue.waiting.append(_Waiting(alert, encoded, answer))
            queue.sender = asyncio.create_task(self._drain(workflow_id, queue, send))
        else:
            queue.waiting.append(_Waiting(alert, encoded, answer))
        # Shielded: a client that hangs up does not take the rest of its batch down.
        result, position = await asyncio.shield(answer)
        return result, position

    async def _drain(
        self, workflow_id: str, queue: _Queue, send: Callable[[Batch], Awaitable[R]]
    ) -> None:
        try:
            while queue.waiting:
                taken = _take(queue.waiting)
                del queue.waiting[: len(taken)]
                try:
                    result = await send(await self._batch(taken))
                except BaseException as err:
                    for waiting in taken:
                        if not waiting.answer.done():
                            waiting.answer.set_exception(err)
                    if not isinstance(err, Exception):
                        raise
                    continue
                for position, waiting in enumerate(taken):
                    if not waiting.answer.done():
                        waiting.answer.set_result((result, position))
        finally:
            del self._queues[workflow_id]
            for waiting in queue.waiting:  # only if the task itself was cancelled
                if not waiting.answer.done():
                    waiting.answer.set_exception(asyncio.CancelledError())

    async def _batch(self, taken: list[_Waiting]) -> Batch:
        # A JSON array of the alerts' JSON is what the converter writes for the list.
        first = taken[0]
        data = b"[" + b",".join(w.encoded.data for w in taken) + b"]"
        payload = Payload(metadata=dict(first.encoded.metadata), data=data)
        if self._converter.payload_codec is not None:
            (payload,) = await self._converter.payload_codec.encode([payload])
        return Batch(first=first.alert, payload=payload, size=len(taken))


def _take(waiting: list[_Waiting]) -> list[_Waiting]:
    taken: list[_Waiting] = []
    size = 0
    for item in waiting[:MAX_BATCH_ALERTS]:
        if taken and size + len(item.encoded.data) > MAX_BATCH_BYTES:
            break
        taken.append(item)
        size += len(item.encoded.data)
    return taken
