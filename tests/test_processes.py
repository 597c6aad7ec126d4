"""``run_copies``: several copies of a command, stopped together."""

import signal
import subprocess
import sys
import time
from pathlib import Path

from tocsin.processes import run_copies

ROOT = Path(__file__).resolve().parent.parent


def exit_with_three() -> None:
    sys.exit(3)


def test_a_child_that_exits_stops_the_rest_and_its_code_is_returned() -> None:
    assert run_copies(2, exit_with_three) == 3


def two_copies() -> tuple[subprocess.Popen, list[int]]:
    """A process running two copies of ``sleep_forever``, and the copies' pids."""
    code = (
        "import sys\n"
        "from tocsin.processes import run_copies\n"
        "from tests.test_processes import sleep_forever\n"
        "sys.exit(run_copies(2, sleep_forever))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    time.sleep(3)
    deadline = time.monotonic() + 30  # spawning is slower on a loaded machine
    while len(children := _children(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(children) == 2
    return proc, children


def test_sigterm_stops_every_copy() -> None:
    """Two copies, stopped the way a supervisor (or `tocsin up`) stops `tocsin worker`."""
    proc, children = two_copies()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert all(not Path(f"/proc/{pid}").exists() for pid in children)


def sleep_forever() -> None:
    while True:
        time.sleep(1)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            cmdline = (entry / "cmdline").read_bytes()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
                found.append(int(entry.name))
    return found


def test_kill_9_of_the_parent_kills_every_copy() -> None:
    proc, children = two_copies()
    proc.kill()
    proc.wait(10)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in children)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
