"""What the scenario modules share: a stack in a temp dir with its logs shown on failure,
waiting for the read side to catch up, ceilings for ratios, and the docs section layout."""

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from bench.report import cpu_table, markdown_table, reading, rss_table, when
from bench.stack import Stack, running_stack


@contextmanager
def stack_for(name: str, env: Mapping[str, str] | None = None) -> Iterator[Stack]:
    """A private stack; if anything fails, the end of each process's log goes to stderr."""
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"tocsin-bench-{name}-") as tmp:
        workdir = Path(tmp)
        try:
            with running_stack(workdir, env) as stack:
                print(f"{name}: stack up in {time.monotonic() - began:.1f}s", flush=True)
                yield stack
        except BaseException:
            for log in sorted(workdir.glob("*.log")):
                if tail := _tail(log):
                    print(f"--- last lines of {log.name} ---\n{tail}", file=sys.stderr)
            raise


def interrupt_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so a stopped scenario still stops its stack."""
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _tail(path: Path, lines: int = 15) -> str:
    with suppress(OSError):
        return "".join(path.read_text(errors="replace").splitlines(keepends=True)[-lines:])
    return ""


async def wait_until(check: Callable[[], Awaitable[bool]], limit: float) -> float:
    """Seconds until ``check`` holds (polled every 0.1 s), NaN if it did not within ``limit``."""
    began = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - began
        if time.monotonic() - began > limit:
            return float("nan")
        await asyncio.sleep(0.1)


def add_ceiling_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ceilings", type=Path, help="a ceilings CSV of this run (python -m bench passes it)"
    )


def ratio(value: float, ceiling: float | None) -> float:
    return value / ceiling if ceiling else float("nan")


def command_line(module: str, argv: list[str] | None) -> str:
    return f"python -m {module} " + " ".join(argv if argv is not None else sys.argv[1:])


def section(
    heading: str,
    command: str,
    intro: str,
    table: str,
    rows: Sequence[Mapping[str, Any]],
    targets: Sequence[tuple[str, str, bool]],
) -> str:
    """A scenario's part of docs/benchmarks.md: what ran, the results with ceilings and ratios,
    the targets, CPU and memory per process and a reading of the bottleneck from them."""
    target_table = markdown_table(
        ["target", "measured", "verdict"],
        ([t, m, "met" if ok else "**not met**"] for t, m, ok in targets),
    )
    head = f"{heading}\n\n`{command.strip()}`, {when()}. {intro}\n\n{table}\n\n{target_table}\n"
    if not rows:
        return head
    readings = "\n".join(f"- {reading(r)}" for r in rows)
    return f"""{head}
CPU in cores per process (CPU seconds per second of wall time):

{cpu_table(rows)}

Peak RSS in MiB (VmHWM; PostgreSQL is the postmaster plus every backend, shared buffers
counted once per backend):

{rss_table(rows)}

Reading of the bottleneck:

{readings}
"""


def report_failures(rows: Sequence[Mapping[str, Any]]) -> int:
    """Exit status: 1 when a request failed or a check of the read side did not hold (a
    missed target is a result, not a failure)."""
    failed = [r for r in rows if r.get("errors") or not r.get("checks_passed", True)]
    for r in failed:
        print(f"FAILED {r['name']}: {r.get('errors')} errors; {r.get('checks')}", file=sys.stderr)
    return 1 if failed else 0
