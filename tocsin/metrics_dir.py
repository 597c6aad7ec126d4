"""The directory where a command's processes share their Prometheus values.

prometheus-client's multiprocess mode (its documented way to run under Gunicorn-style
process managers): every process writes its counters and histograms to memory-mapped files
in ``PROMETHEUS_MULTIPROC_DIR``, and whichever process serves ``/metrics`` adds them up. The
variable must be set before ``prometheus_client`` is first imported, so this module imports
nothing of it: ``tocsin api`` and ``tocsin worker`` call :func:`use_metrics_dir` first, and
their child processes inherit the variable.
"""

import os
import shutil
import socket
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def use_metrics_dir(data_dir: Path, command: str) -> Path:
    """A fresh directory for this run of ``command``
    (``<data_dir>/metrics/<command>-<host>-<pid>``: containers sharing a volume all run as
    pid 1), set in the environment. This host's directories of runs that are gone (e.g.
    killed with -9) are removed, so values never outlive their processes' run."""
    root = data_dir.resolve() / "metrics"
    root.mkdir(parents=True, exist_ok=True)
    prefix = f"{command}-{socket.gethostname()}"
    for old in root.glob(f"{prefix}-*"):
        pid = old.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    path = root / f"{prefix}-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
