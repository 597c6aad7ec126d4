"""Seconds of the escalation, read-side and idle benchmarks (issue #8 scenarios 5-7), so
the scenarios cannot rot; their numbers are not judged here."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("scenario", ["escalation", "read_side", "idle"])
def test_scenario_smoke(scenario: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", f"bench.{scenario}", "--smoke", "--results-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert list(tmp_path.glob(f"{scenario}-*.csv"))
