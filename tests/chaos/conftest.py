"""Chaos tests: real processes killed with SIGKILL, real servers stopped (docs/testing.md)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.processes import Processes, processes


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    """Processes this test starts; every one still running is killed when it ends."""
    with processes(tmp_path) as started:
        yield started
