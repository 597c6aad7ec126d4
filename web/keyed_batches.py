"""At most one call in flight per key; what arrives meanwhile goes together in the next.

The shape both hot per-key paths of the API share: triggers for one incident become one
SignalWithStart (web/trigger_batching.py), rate limit checks of one key one PostgreSQL
round trip (web/ratelimit.py). There is no timer: a lone item is sent at once, and a batch
grows only while the previous call takes. Every caller is answered only by the call that
carried its item; if that call fails, every caller of that batch gets the error and the next
batch still goes.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
A = TypeVar("A")


@dataclass
class _Queue(Generic[T, A]):
    items: list[T] = field(default_factory=list)
    answers: "list[asyncio.Future[A]]" = field(default_factory=list)
    sender: "asyncio.Task[None] | None" = None  # referenced so it is not collected


class KeyedBatcher(Generic[T, A]):
    def __init__(
        self,
        call: Callable[[str, list[T]], Awaitable[Sequence[A]]],
        take: Callable[[list[T]], int] = len,
    ) -> None:
        """``call(key, items)`` answers each item, in order; ``take(waiting)`` is how many
        of the waiting items (at least one) the next call carries."""
        self._call = call
        self._take = take
        self._queues: dict[str, _Queue[T, A]] = {}

    async def submit(self, key: str, item: T) -> A:
        answer: asyncio.Future[A] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue()
            queue.sender = asyncio.create_task(self._drain(key, queue))
        queue.items.append(item)
        queue.answers.append(answer)
        # Shielded: a caller that goes away does not take the rest of its batch down.
        return await asyncio.shield(answer)

    async def _drain(self, key: str, queue: _Queue[T, A]) -> None:
        try:
            while queue.items:
                size = max(1, self._take(queue.items))
                items, answers = queue.items[:size], queue.answers[:size]
                del queue.items[:size], queue.answers[:size]
                try:
                    results = await self._call(key, items)
                except BaseException as err:
                    for answer in answers:
                        if not answer.done():
                            answer.set_exception(err)
                    if not isinstance(err, Exception):
                        raise
                    continue
                for answer, result in zip(answers, results, strict=True):
                    if not answer.done():
                        answer.set_result(result)
        finally:
            del self._queues[key]
            for answer in queue.answers:  # only if the task itself was cancelled
                if not answer.done():
                    answer.set_exception(asyncio.CancelledError())
