"""A smoke run of the whole benchmark harness (``python -m bench --smoke``), so it cannot
rot: every scenario must run and write its CSV. The numbers are not judged."""

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from bench.__main__ import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_harness_smoke(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--results-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=420,
        # One process each: the smoke checks the harness, not the speed (eight stacks start).
        env=os.environ | {"TOCSIN_API_WORKERS": "1", "TOCSIN_WORKER_PROCESSES": "1"},
    )  # fmt: skip
    output = result.stdout[-4000:] + result.stderr[-20000:]
    (run,) = tmp_path.glob("run-*.csv")
    with run.open() as f:
        rows = {row["scenario"]: row for row in csv.DictReader(f)}
    for scenario in SCENARIOS:
        if importlib.util.find_spec(scenario.module) is None:
            continue  # another branch adds it; the run reports it as missing
        assert rows[scenario.name]["status"] == "ok", output
        assert rows[scenario.name]["csvs"], output
    for prefix in ("ceilings", "distinct", "storm", "mixed", "notify"):
        assert list(tmp_path.glob(f"{prefix}-*.csv")), output
    # The storm runs at each load (few and many senders) and judges its ratio at one.
    (storm,) = tmp_path.glob("storm-*.csv")
    with storm.open() as f:
        storms = list(csv.DictReader(f))
    assert [r["load"] for r in storms] == ["4 in flight", "8 in flight"], output
    assert sum(bool(r["target"]) for r in storms) == 1, output
