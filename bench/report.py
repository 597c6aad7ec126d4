"""What every benchmark reports the same way: percentiles, its own section of
docs/benchmarks.md, its CSV under bench/results/, and the machine it ran on."""

import argparse
import csv
import math
import os
import platform
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tocsin.devstack import temporal_cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "bench" / "results"


def nearest_rank(values: Iterable[float], q: float) -> float:
    """The ``q`` quantile (0 to 1) by nearest rank; NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def percentiles_ms(values: Iterable[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds of latencies given in seconds."""
    ordered = sorted(values)
    return {f"p{q}_ms": 1000 * nearest_rank(ordered, q / 100) for q in (50, 95, 99)}


def write_docs(section: str, heading: str) -> None:
    """Replace only ``heading``'s section (up to the next ``## ``), so the other sections and
    the hand-kept history survive a rerun; a new section goes before the history."""
    existing = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    lines = existing.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        history = next(
            (i for i, line in enumerate(lines) if line.startswith(HISTORY_HEADING)), None
        )
        if history is None:
            DOCS.write_text(existing.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n")
            return
        start = end = history
        after = "\n" + "".join(lines[end:])
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        after = "".join(lines[end:])
        after = "\n" + after if after else ""
    DOCS.write_text("".join(lines[:start]) + section.rstrip("\n") + "\n" + after)


HISTORY_HEADING = "## Changes measured"


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """One row per measurement; the columns are the union of the rows' keys, in order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
    return path


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.3f}"
    return value


def cores() -> int:
    return len(os.sched_getaffinity(0))


def machine() -> dict[str, str]:
    """The machine, the tools' versions and the TOCSIN_* knobs set for this run."""
    meminfo = Path("/proc/meminfo").read_text().split("\n")
    ram_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    model = "unknown CPU"
    with suppress(OSError, StopIteration):
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
        model = next(line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line)
    tuning = {k: v for k, v in os.environ.items() if k.startswith("TOCSIN_")}
    temporal = subprocess.run(
        [temporal_cli(), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu": f"{cores()} cores (nproc), {model}",
        "ram": f"{ram_kb / 1024 / 1024:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "temporal": temporal.removeprefix("temporal version ") + ", dev server, SQLite file",
        "tuning": ", ".join(f"`{k}={v}`" for k, v in sorted(tuning.items())) or "defaults",
    }


def describe_machine(info: Mapping[str, str]) -> str:
    return (
        f"{info['cpu']}, {info['ram']} RAM, {info['os']}; Python {info['python']}; "
        f"Temporal CLI {info['temporal']}; settings from the environment: {info['tuning']}"
    )


def markdown_table(header: list[str], rows: Iterable[list[Any]], align: str = "") -> str:
    """A GitHub table; ``align`` is one letter per column, ``r`` for right-aligned numbers."""
    marks = ["--:" if (align[i:i + 1] == "r") else "---" for i in range(len(header))]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def resources(cpu: Mapping[str, float], rss_mb: Mapping[str, float]) -> dict[str, float]:
    """A row's CPU (cores) and peak RSS (MiB) columns, one per component."""
    return {f"cpu_{k}": v for k, v in cpu.items()} | {f"rss_mb_{k}": v for k, v in rss_mb.items()}


def _components(rows: Sequence[Mapping[str, Any]], prefix: str) -> list[str]:
    found: list[str] = []
    for row in rows:
        found.extend(
            k[len(prefix) :] for k in row if k.startswith(prefix) and k[len(prefix) :] not in found
        )
    return found


def cpu_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Cores used per component during each measurement (CPU seconds per wall second)."""
    names = _components(rows, "cpu_")
    body = []
    for row in rows:
        cpu = {n: float(row[f"cpu_{n}"]) for n in names if f"cpu_{n}" in row}
        busiest = max(cpu, key=lambda n: cpu[n]) if cpu else "n/a"
        cells = [f"{cpu[n]:.2f}" if n in cpu else "" for n in names]
        total = f"{sum(cpu.values()):.2f} of {cores()}"
        body.append([row["name"], *cells, total, f"{busiest} ({cpu.get(busiest, 0):.2f})"])
    header = ["measurement", *names, "total", "busiest"]
    return markdown_table(header, body, "l" + "r" * (len(names) + 1) + "l")


def rss_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Peak RSS per component in MiB (VmHWM; summed over a component's processes)."""
    names = _components(rows, "rss_mb_")
    body = [
        [
            row["name"],
            *(f"{float(row[f'rss_mb_{n}']):.0f}" if f"rss_mb_{n}" in row else "" for n in names),
        ]
        for row in rows
    ]
    return markdown_table(["measurement", *names], body, "l" + "r" * len(names))


def reading(row: Mapping[str, Any]) -> str:
    """A first reading of the bottleneck from one measurement's CPU numbers: is the machine
    saturated, is one (single-threaded Python) process at a full core, or is it waiting."""
    cpu = {k[4:]: float(v) for k, v in row.items() if k.startswith("cpu_")}
    if not cpu:
        return "No CPU numbers."
    total = sum(cpu.values())
    busiest = max(cpu, key=lambda n: cpu[n])
    ranked = ", ".join(
        f"{n} {cpu[n]:.2f}" for n in sorted(cpu, key=lambda n: -cpu[n]) if cpu[n] >= 0.05
    )
    text = f"`{row['name']}`: {total:.2f} of {cores()} cores busy ({ranked}). "
    if total >= 0.9 * cores():
        text += (
            f"The machine is saturated; {busiest} takes the largest share, so its CPU per "
            "request is what to cut first (profile it with py-spy)."
        )
    elif cpu[busiest] >= 0.9 and busiest == "temporal":
        text += (
            "The Temporal dev server is at about a full core while the machine has room: "
            "its SQLite store takes one writer at a time, so the server, not Tocsin, sets "
            "the pace."
        )
    elif cpu[busiest] >= 0.9:
        text += (
            f"{busiest} is at a full core while the machine has room: one Python process "
            "(one GIL) is the limit; more processes or less work per request in it would help."
        )
    else:
        text += (
            "No process is CPU-bound and the machine has room: requests wait (on I/O, "
            "timers, locks or round trips) rather than compute; latency, not CPU, sets the rate."
        )
    return text


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark module takes, so ``python -m bench`` can pass them on."""
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness")
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where the CSV goes")
    parser.add_argument("--write-docs", action="store_true", help="rewrite its docs section")


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def when() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def verdict(met: bool) -> str:
    return "met" if met else "**not met**"
