"""The two ceilings the scenarios are judged against, measured on this machine in this run.

(a) Temporal: SignalWithStart requests built by ``web.commands.IncidentCommands.trigger``
    (exactly the API's request: USE_EXISTING, search attributes, payloads), one new workflow
    id per call, from a bare client, on a task queue with no worker (the server's accept path
    alone) and with a bare worker (``bench.bare_worker``, in its own process) that runs a
    minimal workflow (``bench.bare_workflow``: take the trigger and finish), as accepted and
    as run (until the worker finished every workflow started); the same on one
    workflow id (no worker; what a storm's signals cost); and UpdateWithStart to the bare
    worker (the update's answer comes from the workflow, so a worker is needed).
(b) HTTP: a hello-world Quart app on Hypercorn (``bench.hello``, a separate process like the
    API) answering one POST with a small JSON, driven by wrk and by the bench's own
    generator (the one the scenarios use, so a ratio can compare like with like).

Run: ``python -m bench.ceilings [--smoke] [--write-docs]``.
"""

import argparse
import asyncio
import csv
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from bench.bare_workflow import BareIncident
from bench.client import PAYLOAD
from bench.http import http_client
from bench.load import Call, Run, closed_loop
from bench.report import (
    add_common_options,
    cpu_table,
    fmt,
    markdown_table,
    reading,
    resources,
    rss_table,
    stamp,
    when,
    write_csv,
    write_docs,
)
from bench.stack import ROOT, Monitor, _stop, free_port, roots, temporal_server
from tocsin.devstack import wait_for_port
from tocsin.settings import Settings
from tocsin.temporal import connect
from web.commands import IncidentCommands
from workflows.messages import AlertIn, IncidentStart

HEADING = "## Ceilings"
NO_WORKER_QUEUE = "bench-no-worker"
BARE_QUEUE = "bench-bare"
# The names scenarios look ratios up by (``load``).
SWS = "signal-with-start, no worker"
SWS_WORKER = "signal-with-start, bare worker"
SWS_WORKER_RUN = "signal-with-start, bare worker, every workflow run"
SWS_HOT = "signal-with-start, one id, no worker, batched as the API does"
UWS_WORKER = "update-with-start, bare worker"
HTTP_WRK = "hello POST, wrk"
HTTP_PY = "hello POST, bench generator"

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"event_action": "trigger", "dedup_key": "k", "payload": %s}'
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %%d %%d %%d %%f %%f %%f\\n", summary.requests,
    e.connect + e.read + e.write + e.status + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def alert() -> AlertIn:
    """The alert the API builds from the bench's payload."""
    return AlertIn(
        **PAYLOAD, payload=dict(PAYLOAD), received_at=datetime.now(UTC), actor="bench:raw"
    )


def sws_call(commands: IncidentCommands, service: str, key: Any) -> Call:
    async def call(n: int) -> tuple[bool, str]:
        outcome = await commands.trigger(service, key(n), alert())
        return True, "sws:started" if outcome.started else "sws:existing"

    return call


def uws_call(client: Client, run: str) -> Call:
    async def call(n: int) -> tuple[bool, str]:
        start = WithStartWorkflowOperation(
            BareIncident.run,
            IncidentStart(service_id=f"svc_{run}", dedup_key=f"u-{n}").model_dump(mode="json"),
            id=f"bench-uws/{run}/{n}",
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            task_queue=BARE_QUEUE,
        )
        count = await client.execute_update_with_start_workflow(
            BareIncident.trigger_update,
            alert().model_dump(mode="json"),
            start_workflow_operation=start,
        )
        return True, f"uws:alerts={count}"

    return call


@contextmanager
def process(args: list[str], log: Path) -> Iterator["subprocess.Popen[bytes]"]:
    with log.open("ab") as out:
        proc = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        _stop(proc)


async def drained(client: Client, query: str, limit: float) -> float:
    """Seconds until no workflow matches ``query`` (the bare worker caught up); NaN if not."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        if (await client.count_workflows(query)).count == 0:
            return time.monotonic() - began
        await asyncio.sleep(0.2)
    return float("nan")


async def last_close(client: Client, query: str) -> tuple[int, datetime | None]:
    """How many workflows matching ``query`` are closed, and when the last of them closed."""
    closed, last = 0, None
    async for execution in client.list_workflows(query, page_size=1000):
        if execution.close_time is not None:
            closed += 1
            last = max(last or execution.close_time, execution.close_time)
    return closed, last


async def bare_worker_ceiling(
    client: Client, bare: IncidentCommands, service: str, pids: dict[str, int], concurrency: int,
    seconds: float,
) -> list[dict[str, Any]]:  # fmt: skip
    """SignalWithStart to the bare worker, as accepted and as run: the server answers starts
    ahead of its workflow tasks, so under a closed loop the worker finishes its workflows
    well after the last answer. Accepted per second is the client's rate; run per second
    counts each workflow when the bare worker has finished it (accepted / time from the
    first call to the last workflow's close), the rate the engine sustains with its worker."""
    path = "bare client → Temporal → bare worker"
    began = datetime.now(UTC)
    with Monitor(roots(extra=pids)) as whole:
        with Monitor(roots(extra=pids)) as monitor:
            result = await closed_loop(
                sws_call(bare, service, lambda n: f"bare-{n}"), concurrency=concurrency,
                seconds=seconds,
            )  # fmt: skip
        lag = await drained(
            client, f"TaskQueue = '{BARE_QUEUE}' AND ExecutionStatus = 'Running'", 60.0
        )
    started = result.outcomes.get("sws:started", 0)
    closed, last = await last_close(client, f"WorkflowId STARTS_WITH 'incident/{service}/bare-'")
    span = (last - began).total_seconds() if last is not None else float("nan")
    notes = [f"the bare worker finished the last workflow {fmt(lag)} s after the last answer"]
    ran = row(SWS_WORKER_RUN, path, concurrency, result, whole, [])
    ran |= {"ok": closed, "seconds": span, "per_second": closed / span if span else 0.0}
    ran["checks"] = (
        f"{closed} of {started} started workflows finished, the last {fmt(span)} s after the"
        " first call; latencies are the calls' answers"
    )
    if closed != started:
        ran["errors"] = started - closed
    return [row(SWS_WORKER, path, concurrency, result, monitor, notes), ran]


async def temporal_ceilings(
    address: str, pids: dict[str, int], seconds: float, concurrency: int
) -> list[dict[str, Any]]:
    client = await connect(Settings(temporal_address=address))
    run = uuid.uuid4().hex[:8]
    no_worker = IncidentCommands(client, NO_WORKER_QUEUE)
    bare = IncidentCommands(client, BARE_QUEUE)
    # Warm-up: connections, and the bare worker is polling (a workflow finishes).
    await asyncio.gather(*(sws_call(bare, f"svc_w{run}", lambda n: f"w-{n}")(n) for n in range(8)))
    await uws_call(client, f"w{run}")(0)
    # Each variant its own workflow ids: USE_EXISTING would make a repeated id a mere signal.
    variants: list[tuple[str, str, Call]] = [
        (
            SWS,
            "bare client → Temporal",
            sws_call(no_worker, f"svc_{run}", lambda n: f"none-{n}"),
        ),
        (SWS_HOT, "bare client → Temporal", sws_call(no_worker, f"svc_{run}", lambda n: "hot")),
    ]
    rows = []
    for name, path, call in variants:
        with Monitor(roots(extra=pids)) as monitor:
            result = await closed_loop(call, concurrency=concurrency, seconds=seconds)
        rows.append(row(name, path, concurrency, result, monitor, []))
    rows += await bare_worker_ceiling(client, bare, f"svc_{run}", pids, concurrency, seconds)
    with Monitor(roots(extra=pids)) as monitor:
        result = await closed_loop(uws_call(client, run), concurrency=concurrency, seconds=seconds)
    rows.append(
        row(UWS_WORKER, "bare client → Temporal → bare worker", concurrency, result, monitor, [])
    )
    return rows


def row(
    name: str, path: str, concurrency: int, run: Run, monitor: Monitor, notes: list[str]
) -> dict[str, Any]:
    if run.errors:
        notes = [*notes, "errors: " + ", ".join(f"{k}={v}" for k, v in run.outcomes.items())]
    return (
        {"name": name, "path": path, "concurrency": concurrency}
        | run.summary()
        | resources(monitor.cpu, monitor.peak_rss_mb())
        | {"checks": "; ".join(notes)}
    )


async def python_http(url: str, seconds: float, concurrency: int) -> Run:
    async with http_client(url, concurrency) as http:
        body = {"event_action": "trigger", "dedup_key": "k", "payload": PAYLOAD}

        async def call(n: int) -> tuple[bool, str]:
            status, _ = await http.post("", body)
            return status == 202, f"hello:HTTP {status}"

        await closed_loop(call, concurrency=concurrency, count=concurrency * 4)  # warm-up
        return await closed_loop(call, concurrency=concurrency, seconds=seconds)


def wrk(
    url: str, seconds: float, concurrency: int, workdir: Path, pids: dict[str, int]
) -> dict[str, Any]:
    """One wrk thread (it is fast in C; the server gets the other core)."""
    import json

    script = workdir / "post.lua"
    script.write_text(WRK_SCRIPT % json.dumps(PAYLOAD))
    args = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, round(seconds))}s",
        "-s",
        str(script),
        url,
    ]
    with Monitor(roots(extra=pids)) as monitor:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        monitor.add("wrk", proc.pid)
        out, _ = proc.communicate()
    match = re.search(r"BENCH (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", out)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed: {out}")
    requests, errors, duration_us = (int(match[i]) for i in (1, 2, 3))
    p50, p95, p99 = (float(match[i]) / 1000 for i in (4, 5, 6))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non2xx[1]) if non2xx else 0
    return (
        {"name": HTTP_WRK, "path": "wrk → hello app", "concurrency": concurrency}
        | {
            "sent": requests,
            "ok": requests - errors,
            "errors": errors,
            "seconds": duration_us / 1e6,
            "per_second": (requests - errors) / (duration_us / 1e6),
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p99,
        }
        | resources(monitor.cpu, monitor.peak_rss_mb())
        | {"checks": ""}
    )


def http_ceilings(workdir: Path, seconds: float, concurrency: int) -> list[dict[str, Any]]:
    port = free_port()
    workers = str(Settings().api_workers)  # as many processes as ``tocsin api`` runs
    args = [sys.executable, "-m", "bench.hello", str(port), workers]
    with process(args, workdir / "hello.log") as hello:
        wait_for_port("127.0.0.1", port, 30, hello)
        url = f"http://127.0.0.1:{port}/api/events"
        pids = {"hello": hello.pid}
        rows = []
        if shutil.which("wrk"):
            rows.append(wrk(url, seconds, concurrency, workdir, pids))
        with Monitor(roots(extra=pids)) as monitor:
            result = asyncio.run(python_http(url, seconds, concurrency))
        notes = [] if rows else ["wrk is not installed: only the Python generator measured"]
        rows.append(
            row(HTTP_PY, "bench generator → hello app", concurrency, result, monitor, notes)
        )
        return rows


def measure(seconds: float, concurrency: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-ceilings-") as tmp:
        workdir = Path(tmp)
        rows = http_ceilings(workdir, seconds, concurrency)
        with temporal_server(workdir) as (address, temporal_pid):
            worker_args = [sys.executable, "-m", "bench.bare_worker", address, BARE_QUEUE]
            with process(worker_args, workdir / "bare-worker.log") as worker:
                pids = {"temporal": temporal_pid, "bare-worker": worker.pid}
                rows = asyncio.run(temporal_ceilings(address, pids, seconds, concurrency)) + rows
    return rows


def load(path: Path | None) -> dict[str, float]:
    """name → per-second rate from a ceilings CSV (empty without one)."""
    if path is None or not path.exists():
        return {}
    with path.open() as f:
        return {r["name"]: float(r["per_second"] or "nan") for r in csv.DictReader(f)}


def docs_section(rows: list[dict[str, Any]], command: str, seconds: float, concurrency: int) -> str:
    table = markdown_table(
        ["measurement", "path", "per s", "p50 ms", "p95 ms", "p99 ms", "sent", "errors", "notes"],
        (
            [r["name"], r["path"], fmt(r["per_second"], 0), fmt(r["p50_ms"]), fmt(r["p95_ms"]),
             fmt(r["p99_ms"]), r["sent"], r["errors"], r["checks"]]
            for r in rows
        ),
        "llrrrrrrl",
    )  # fmt: skip
    readings = "\n".join(f"- {reading(r)}" for r in rows)
    return f"""{HEADING}

`{command}`, {when()}. Closed loop, {concurrency} requests in flight, {seconds:g} s each.
Ceiling (a) is Temporal's: `{SWS}` sends the API's own SignalWithStart request
(`IncidentCommands.trigger`) with a new workflow id per call to a task queue no worker polls;
`{SWS_WORKER}` sends it to a queue where a bare worker (separate process, the SDK settings of
`tocsin worker`) runs a minimal workflow that takes the signal and finishes, and
`{SWS_WORKER_RUN}` is that same measurement counted as the worker finishes the workflows
(finished over the time from the first call to the last close): the server answers starts
ahead of their workflow tasks, so accepted per second alone leaves the worker's part after
the window. Each variant has its own workflow ids (a repeated id would be a mere signal).
`{UWS_WORKER}` is UpdateWithStart, answered by that workflow. Ceiling (b) is HTTP's: a
hello-world Quart app on Hypercorn (one process, as `tocsin api`) answering a POST with a
small JSON, driven by wrk (one thread) and by the bench's own generator (bench/http.py, the
one the scenarios use).

{table}

CPU in cores per process during each measurement:

{cpu_table(rows)}

Peak RSS in MiB:

{rss_table(rows)}

Reading of the bottleneck:

{readings}
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ceilings", description=__doc__)
    add_common_options(parser)
    parser.add_argument("--seconds", type=float, help="per measurement (10; smoke 1)")
    parser.add_argument("--concurrency", type=int, help="requests in flight (32; smoke 8)")
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (1.0 if args.smoke else 10.0)
    args.concurrency = args.concurrency or (8 if args.smoke else 32)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = measure(args.seconds, args.concurrency)
    path = write_csv(args.results_dir / f"ceilings-{stamp()}.csv", rows)
    for r in rows:
        print(
            f"{r['name']:>40}: {r['per_second']:8.0f}/s  p99 {fmt(r['p99_ms'])} ms  {r['checks']}"
        )
    print(f"wrote {path}")
    if args.write_docs:
        command = "python -m bench.ceilings " + " ".join(argv if argv is not None else sys.argv[1:])
        write_docs(docs_section(rows, command.strip(), args.seconds, args.concurrency), HEADING)
    failed = [r["name"] for r in rows if r["errors"] or not r["ok"]]
    for name in failed:
        print(f"FAILED {name}: errors or nothing accepted", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
