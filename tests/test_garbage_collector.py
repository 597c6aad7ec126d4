"""Serving processes freeze what start-up loaded (``tocsin.processes.settle_garbage_collector``):
the API once it serves, collecting young garbage rarely; the worker once it polls, keeping
Python's threshold (an evicted workflow waits for a full collection). Each test starts from
Python's default threshold with nothing frozen, whatever ran before it."""

import asyncio
import gc
import uuid
from collections.abc import Iterator

import pytest

from tests.polling import eventually
from tocsin.processes import API_GC_YOUNG_THRESHOLD
from tocsin.settings import Settings
from web.app import create_app
from worker import run_worker

PYTHON_DEFAULT = 700


@pytest.fixture
def default_collector() -> Iterator[None]:
    before = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(PYTHON_DEFAULT)
    yield
    gc.set_threshold(*before)


async def test_the_api_settles_the_collector(settings: Settings, default_collector: None) -> None:
    app = create_app(settings.model_copy(update={"task_queue": f"gc-{uuid.uuid4().hex[:8]}"}))
    async with app.test_app():
        assert gc.get_threshold()[0] == API_GC_YOUNG_THRESHOLD
        assert gc.get_freeze_count() > 0


async def test_the_worker_freezes_and_keeps_the_default_threshold(
    settings: Settings, default_collector: None
) -> None:
    stop = asyncio.Event()
    local = settings.model_copy(update={"task_queue": f"gc-{uuid.uuid4().hex[:8]}"})
    running = asyncio.create_task(run_worker(local, stop))
    try:
        await eventually(
            lambda: gc.get_freeze_count() > 0 or running.done(), "the worker polling", seconds=30
        )
        assert not running.done()
        assert gc.get_threshold()[0] == PYTHON_DEFAULT
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
