"""A few seconds of the events benchmark so the harness cannot rot (numbers are not judged)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_events_benchmark_smoke(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.events", "--smoke", "--results-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert list(tmp_path.glob("events-*.csv"))


def test_escalation_benchmark_smoke() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.escalation", "--smoke"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "step_lateness_p99_ms" in result.stdout
