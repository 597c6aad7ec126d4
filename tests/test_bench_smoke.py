"""A smoke run of the whole benchmark harness (``python -m bench --smoke``), so it cannot
rot: every scenario must run and write its CSV. The numbers are not judged."""

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from statistics import median

import pytest

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
    # The storm runs at each load (few and many senders), then the fastest again, each next
    # to a run of hello; its ratio is judged on the median of the fastest load's pairs.
    (storm,) = tmp_path.glob("storm-*.csv")
    with storm.open() as f:
        *storms, storm_judged = csv.DictReader(f)
    assert [r["load"] for r in storms[:2]] == ["4 in flight", "8 in flight"], output
    assert len(storms) == 3 and all(float(r["paired_http_per_second"]) > 0 for r in storms)
    fastest = [r for r in storms if r["load"] == storm_judged["load"]]
    assert len(fastest) == 2 and not any(r["target"] for r in storms), storms
    assert storm_judged["target"], storm_judged
    assert float(storm_judged["ratio_to_paired_http"]) == pytest.approx(
        median(float(r["per_second"]) / float(r["paired_http_per_second"]) for r in fastest),
        abs=0.002,
    )
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
    # Scenario 1 runs two closed loops (smoke), each next to a run of ceiling (a) as run,
    # and is judged on the median of their ratios.
    (distinct,) = tmp_path.glob("distinct-*.csv")
    with distinct.open() as f:
        *pairs, closed, paced = csv.DictReader(f)
    assert len(pairs) == 2 and not any(r["target"] for r in pairs), pairs
    for pair in pairs:
        assert 0 < float(pair["run_per_second"]) <= float(pair["per_second"]), pair
        assert float(pair["ratio_run_to_sws_bare_worker"]) > 0, pair
        assert float(pair["paired_ceiling_run_per_second"]) > 0, pair
    assert closed["target"], closed
    assert float(closed["ratio_run_to_paired_ceiling"]) == pytest.approx(
        median(
            float(r["run_per_second"]) / float(r["paired_ceiling_run_per_second"]) for r in pairs
        ),
        abs=0.002,
    )
    # The latency is measured at half the saturating rate the stack sustains (the run rate).
    half = max(float(closed["run_per_second"]) / 2, 1.0)
    offered = float(paced["load"].removesuffix("/s offered"))
    assert abs(offered - half) < 0.06, (closed, paced)
