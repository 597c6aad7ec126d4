"""``make bench``: the ceilings, then scenarios 1-7, each with its own stack; one CSV per
scenario under bench/results/ and, with ``--write-docs``, docs/benchmarks.md.

Each module runs in a child process (its ``main(argv)``): a scenario cannot leak environment,
event loops or memory into the next, the bench process's own peak RSS is per scenario, and
SIGTERM unwinds the child so its stack is stopped. A module that is missing or fails is
reported and the run goes on.

Run: ``python -m bench [--smoke] [--only NAME,...] [--results-dir DIR] [--write-docs]``.
"""

import argparse
import csv
import importlib.util
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from bench.report import (
    DOCS,
    HISTORY_HEADING,
    RESULTS,
    describe_machine,
    machine,
    markdown_table,
    stamp,
    when,
    write_csv,
    write_docs,
)

RUN_HEADING = "## How these numbers were made"
# A child runs a module's main(argv); SIGTERM becomes KeyboardInterrupt so stacks are stopped.
BOOTSTRAP = (
    "import importlib, signal, sys\n"
    "def _unwind(signum, frame):\n"
    "    raise KeyboardInterrupt\n"
    "signal.signal(signal.SIGTERM, _unwind)\n"
    "sys.exit(importlib.import_module(sys.argv[1]).main(sys.argv[2:]))\n"
)


@dataclass(frozen=True)
class Scenario:
    name: str
    module: str
    title: str
    aliases: tuple[str, ...] = ()
    takes_ceilings: bool = False


SCENARIOS = (
    Scenario("ceilings", "bench.ceilings", "Ceilings (a) Temporal and (b) HTTP", ("0",)),
    Scenario("distinct", "bench.distinct", "1. Distinct keys", ("1",), True),
    Scenario("storm", "bench.storm", "2. Storm on one key", ("2",), True),
    Scenario("mixed", "bench.mixed", "3. Mixed load and 4. time to notify", ("3", "4", "notify")),
    Scenario("escalation", "bench.escalation", "5. Escalation lateness", ("5",)),
    Scenario("read_side", "bench.read_side", "6. Read side", ("6", "read-side")),
    Scenario("idle", "bench.idle", "7. Open incidents at rest", ("7",)),
)


@dataclass
class Outcome:
    scenario: Scenario
    status: str = "not run"
    seconds: float = 0.0
    csvs: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def select(only: str | None) -> list[Scenario]:
    if not only:
        return list(SCENARIOS)
    wanted = {w.strip() for w in only.split(",") if w.strip()}
    chosen = [s for s in SCENARIOS if wanted & {s.name, *s.aliases}]
    known = {n for s in SCENARIOS for n in (s.name, *s.aliases)}
    if unknown := wanted - known:
        raise SystemExit(f"unknown scenario(s) {sorted(unknown)}; known: {sorted(known)}")
    return chosen


def run_one(
    scenario: Scenario, args: argparse.Namespace, ceilings_csv: Path | None, timeout: float
) -> Outcome:
    outcome = Outcome(scenario)
    if importlib.util.find_spec(scenario.module) is None:
        outcome.status = f"missing ({scenario.module} does not exist)"
        return outcome
    argv = ["--results-dir", str(args.results_dir)]
    argv += ["--smoke"] if args.smoke else []
    argv += ["--write-docs"] if args.write_docs else []
    argv += ["--ceilings", str(ceilings_csv)] if scenario.takes_ceilings and ceilings_csv else []
    before = set(args.results_dir.glob("*.csv")) if args.results_dir.exists() else set()
    print(f"\n=== {scenario.title}: python -m {scenario.module} {' '.join(argv)}", flush=True)
    began = time.monotonic()
    child = subprocess.Popen([sys.executable, "-c", BOOTSTRAP, scenario.module, *argv])
    try:
        code = child.wait(timeout)
        outcome.status = "ok" if code == 0 else f"failed (exit {code})"
    except subprocess.TimeoutExpired:
        outcome.status = f"failed (over {timeout:.0f} s)"
    finally:
        _stop(child)
    outcome.seconds = time.monotonic() - began
    after = set(args.results_dir.glob("*.csv")) if args.results_dir.exists() else set()
    outcome.csvs = sorted(after - before)
    if outcome.ok and not outcome.csvs:
        outcome.status = "failed (no CSV written)"
    return outcome


def _stop(child: "subprocess.Popen[bytes]") -> None:
    """SIGTERM first: the child unwinds and stops its stack; kill only if it hangs."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def targets(outcome: Outcome) -> list[str]:
    """The targets a scenario's CSV rows state (columns ``target`` and ``target_met``)."""
    found = []
    for path in outcome.csvs:
        with path.open() as f:
            for row in csv.DictReader(f):
                if row.get("target"):
                    met = row.get("target_met") == "True"
                    found.append(f"{row['target']}: {'met' if met else 'NOT MET'}")
    return found


def summary(outcomes: list[Outcome]) -> str:
    return markdown_table(
        ["scenario", "status", "targets", "CSV", "took"],
        (
            [o.scenario.title, o.status, "; ".join(targets(o)) or "see its section",
             ", ".join(f"`{_shown(p)}`" for p in o.csvs), f"{o.seconds:.0f} s"]
            for o in outcomes
        ),
    )  # fmt: skip


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def run_section(command: str, outcomes: list[Outcome] | None, *, partial: bool = False) -> str:
    done = summary(outcomes) if outcomes else "(running)"
    which = (
        "the sections of the scenarios in the table below come from this run, the others from"
        " an earlier one (each section gives its date)"
        if partial
        else "every section below comes from this one run"
    )
    return f"""{RUN_HEADING}

`{command}` (`make bench`), {when()}; {which}.

- Machine: {describe_machine(machine())}.
- Each scenario starts its own stack the way `make run` does (embedded PostgreSQL, the
  Temporal dev server on a SQLite file, `tocsin worker`, `tocsin api` on Hypercorn), all on
  this machine, and drives it over HTTP from the bench process with bounded concurrency. The
  ceilings are measured first in the same run; the scenarios state their ratios to them.
- CPU is per process tree (the API's and worker's children, PostgreSQL's backends); peak RSS
  is VmHWM summed over a component's processes. The CSVs are in `bench/results/`.

{done}
"""


def fresh_docs() -> None:
    """A full run replaces every section but the hand-kept history of measured changes."""
    existing = DOCS.read_text() if DOCS.exists() else ""
    lines = existing.splitlines(keepends=True)
    start = next((i for i, s in enumerate(lines) if s.startswith(HISTORY_HEADING)), None)
    history = ""
    if start is not None:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        history = "".join(lines[start:end])
    DOCS.write_text("# Benchmarks\n\n" + history)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds per scenario")
    parser.add_argument("--only", help="comma-separated scenario names or numbers (0-7)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--write-docs", action="store_true", help=f"rewrite {DOCS.name}")
    args = parser.parse_args(argv)
    if args.smoke and args.write_docs:
        parser.error("--smoke numbers do not belong in the docs")
    args.results_dir = args.results_dir.resolve()
    return args


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    scenarios = select(args.only)
    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    command = command.strip()
    if args.write_docs:
        if not args.only:
            fresh_docs()
        write_docs(run_section(command, None, partial=bool(args.only)), RUN_HEADING)
    timeout = 300.0 if args.smoke else 3 * 3600.0
    outcomes: list[Outcome] = []
    # Without the ceilings in this run, ratios use the newest ones measured here before.
    earlier = sorted(args.results_dir.glob("ceilings-*.csv"))
    ceilings_csv: Path | None = earlier[-1] if earlier else None
    for scenario in scenarios:
        outcome = run_one(scenario, args, ceilings_csv, timeout)
        outcomes.append(outcome)
        if scenario.name == "ceilings":
            ceilings_csv = next((p for p in outcome.csvs if p.name.startswith("ceilings-")), None)
        print(f"=== {scenario.title}: {outcome.status} in {outcome.seconds:.0f} s", flush=True)
    rows = [
        {"scenario": o.scenario.name, "module": o.scenario.module, "status": o.status,
         "seconds": o.seconds, "csvs": " ".join(p.name for p in o.csvs),
         "targets": "; ".join(targets(o)), "smoke": args.smoke}
        for o in outcomes
    ]  # fmt: skip
    path = write_csv(args.results_dir / f"run-{stamp()}.csv", rows)
    print("\n" + summary(outcomes) + f"\n\nwrote {path}")
    if args.write_docs:
        write_docs(run_section(command, outcomes, partial=bool(args.only)), RUN_HEADING)
        print(f"rewrote {DOCS}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
