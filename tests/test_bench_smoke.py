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
    # Ceiling (a) with the bare worker is also counted as run: every call started its own
    # workflow (no id shared with another variant) and the worker finished each of them;
    # scenario 1 is judged against that rate.
    (ceilings,) = tmp_path.glob("ceilings-*.csv")
    with ceilings.open() as f:
        ceiling = {r["name"]: r for r in csv.DictReader(f)}
    ran = ceiling["signal-with-start, bare worker, every workflow run"]
    assert int(ran["ok"]) == int(ran["sent"]) > 0 and int(ran["errors"]) == 0, ran
    assert (
        0
        < float(ran["per_second"])
        <= float(ceiling["signal-with-start, bare worker"]["per_second"])
    )
    (distinct,) = tmp_path.glob("distinct-*.csv")
    with distinct.open() as f:
        closed, paced = csv.DictReader(f)
    assert 0 < float(closed["run_per_second"]) <= float(closed["per_second"]), closed
    assert float(closed["ratio_run_to_sws_bare_worker"]) > 0, closed
    # The latency is measured at half the saturating rate the stack sustains (the run rate).
    half = max(float(closed["run_per_second"]) / 2, 1.0)
    offered = float(paced["load"].removesuffix("/s offered"))
    assert abs(offered - half) < 0.06, (closed, paced)
