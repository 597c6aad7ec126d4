"""Scrapes of the shared metrics directory (tocsin/metrics.py) survive a file that a process
is still creating: it is empty for a moment, and prometheus-client alone fails the whole
scrape on it (client_python#1199)."""

import json
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.mmap_dict import MmapedDict

from tocsin.metrics import collector
from tocsin.metrics_dir import MULTIPROC_ENV


def test_a_scrape_skips_a_file_being_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    written = MmapedDict(str(tmp_path / "counter_1.db"))
    key = json.dumps(["tocsin_events", "tocsin_events_total", {"action": "trigger"}, "Events."])
    written.write_value(key, 3.0, 0.0)
    written.close()
    (tmp_path / "counter_2.db").touch()  # created, not yet sized

    text = generate_latest(collector()).decode()

    assert 'tocsin_events_total{action="trigger"} 3.0' in text
