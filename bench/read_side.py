"""Read side: ``GET /api/incidents`` over 100,000 incidents, per filter and page.

The incidents (with their alerts and timeline rows, across ``--services`` services whose
sizes follow a Zipf law) are bulk-loaded straight into PostgreSQL with COPY: this scenario
measures the read API, not ingest. Then, through the real API process, each *query shape*
(every filter the API has: status, serviceId, a key restricted to some services, limit, and
cursor pages, first and deep) is requested in a closed loop for ``--seconds`` and its
p50/p95/p99 reported against the 50 ms target.

Each shape's SQL is built by the same functions the API calls (web/queries.py) and run under
``EXPLAIN (ANALYZE, BUFFERS)``, so the report shows which index each query used and that none
scans the incident table sequentially.

Run: ``python -m bench.read_side [--smoke] [--write-docs] [--results-dir DIR]``.
"""

import argparse
import asyncio
import json
import random
import re
import shlex
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import col, select

from bench.report import (
    RESULTS,
    describe_machine,
    machine,
    markdown_table,
    nearest_rank,
    write_csv,
    write_docs,
)
from bench.report import stamp as report_stamp
from bench.report import when as report_when
from bench.scenario import interrupt_on_sigterm
from bench.stack import Monitor, Stack, roots, running_stack
from models import Incident
from models.db import autocommit, create_engine, session_scope
from models.provisioning import create_api_key
from tocsin.keys import ApiKeyHasher, new_id
from tocsin.settings import Settings
from web.queries import encode_cursor, incident_filters, incident_page_query, incident_total_query
from workflows.ids import incident_workflow_id

SECTION = "## Read side"
TARGET_P99_MS = 50.0
STATUSES = {"RESOLVED": 0.95, "OPEN": 0.02, "ACKNOWLEDGED": 0.02, "SNOOZED": 0.005}
STATUSES["SUPPRESSED"] = 1 - sum(STATUSES.values())
# How deep a "deep" page is: this far through the shape's rows, newest first.
DEEP = 0.9
# Scans in a plan: "<kind> [using <index>] on <table>", and a bitmap's "Bitmap Index Scan on
# <index>" (the index of the Bitmap Heap Scan above it).
SCAN = re.compile(
    r"(Seq Scan|(?:Parallel )?Index(?: Only)? Scan(?: Backward)?) (?:using (\w+) )?on (\w+)"
)
BITMAP = re.compile(r"Bitmap Index Scan on (\w+)")
INCIDENT_INDEX = re.compile(r"^(ix_incident_|incident_pkey)")


# --- loading --------------------------------------------------------------------------------


@dataclass
class Loaded:
    services: list[str]  # busiest first
    per_service: dict[str, int]
    seconds: float
    rows: dict[str, int]


def zipf_weights(n: int) -> list[float]:
    return [1 / (rank + 1) for rank in range(n)]


def incident_rows(
    services: list[str], count: int, rng: random.Random
) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """(incident, its alerts, its timeline) rows shaped like the projection writes them."""
    now = datetime.now(UTC)
    picks = rng.choices(services, weights=zipf_weights(len(services)), k=count)
    statuses = rng.choices(list(STATUSES), weights=list(STATUSES.values()), k=count)
    for n, (service, status) in enumerate(zip(picks, statuses, strict=True)):
        created = now - timedelta(seconds=rng.uniform(0, 180 * 86400))
        alerts = rng.choice((1, 1, 1, 2, 3))
        key = f"host-{n % 5000}/check-{n}"
        incident_id = "inc_" + new_id("x")[2:] + new_id("x")[2:]
        ack = created + timedelta(minutes=3) if status in ("ACKNOWLEDGED", "RESOLVED") else None
        resolved = created + timedelta(minutes=40) if status == "RESOLVED" else None
        last = created + timedelta(seconds=30 * (alerts - 1))
        summary = f"CPU above 90% on host-{n % 5000}"
        incident = (
            incident_id, service, key, incident_workflow_id(service, key), summary, None,
            status, rng.choice(("HIGH", "HIGH", "LOW")), None, None,
            "ACTIVE" if status == "OPEN" else "COMPLETED", alerts, created, last, ack,
            resolved, None, None, None, 3,
        )  # fmt: skip
        payload = json.dumps({"summary": summary, "source": "bench", "severity": "critical"})
        alert_rows = [
            (incident_id, seq, created + timedelta(seconds=30 * seq), summary, "bench",
             "critical", payload, "[]", "[]", None, None)
            for seq in range(alerts)
        ]  # fmt: skip
        timeline = [
            (incident_id, 1, created, "trigger", "integration:bench", "Triggered", "{}"),
            (incident_id, 2, created, "escalation", "escalation", "Escalation step 1", "{}"),
        ]
        if resolved is not None:
            timeline.append(
                (incident_id, 3, resolved, "status", "user:bench", "OPEN → RESOLVED", "{}")
            )
        yield incident, alert_rows, timeline


INCIDENT_COLUMNS = [
    "id", "service_id", "dedup_key", "workflow_id", "title", "description", "status", "urgency",
    "priority", "assignee_id", "escalation_status", "alert_count", "created_at",
    "last_alert_at", "acknowledged_at", "resolved_at", "snoozed_until", "status_before_snooze",
    "suppressed_by", "version",
]  # fmt: skip
ALERT_COLUMNS = [
    "incident_id", "seq", "received_at", "summary", "source", "severity", "payload", "links",
    "images", "client", "client_url",
]  # fmt: skip
TIMELINE_COLUMNS = ["incident_id", "seq", "at", "kind", "actor", "message", "data"]


async def bulk_load(engine: AsyncEngine, services: int, incidents: int, seed: int) -> Loaded:
    """COPY services, incidents, alerts and timeline rows, then VACUUM ANALYZE: the state a
    long-running database reaches through autovacuum, which the planner's choices depend on."""
    began = time.monotonic()
    rng = random.Random(seed)
    service_ids = [new_id("svc") for _ in range(services)]
    now = datetime.now(UTC)
    batch: dict[str, list[tuple[Any, ...]]] = {"incident": [], "alert": [], "timeline_entry": []}
    rows = dict.fromkeys(batch, 0)
    per_service = dict.fromkeys(service_ids, 0)
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.copy_records_to_table(
            "service",
            records=[(sid, f"bench service {i}", now) for i, sid in enumerate(service_ids)],
            columns=["id", "name", "created_at"],
        )

        async def flush() -> None:
            for table, columns in (
                ("incident", INCIDENT_COLUMNS),
                ("alert", ALERT_COLUMNS),
                ("timeline_entry", TIMELINE_COLUMNS),
            ):
                await raw.copy_records_to_table(table, records=batch[table], columns=columns)
                rows[table] += len(batch[table])
                batch[table].clear()

        for incident, alerts, timeline in incident_rows(service_ids, incidents, rng):
            per_service[incident[1]] += 1
            batch["incident"].append(incident)
            batch["alert"].extend(alerts)
            batch["timeline_entry"].extend(timeline)
            if len(batch["incident"]) >= 10_000:
                await flush()
        await flush()
        await conn.commit()
    async with autocommit(engine).connect() as conn:  # VACUUM runs outside a transaction
        for table in ("service", "incident", "alert", "timeline_entry"):
            await conn.execute(text(f"VACUUM ANALYZE {table}"))
    ranked = sorted(service_ids, key=lambda s: -per_service[s])
    return Loaded(ranked, per_service, time.monotonic() - began, rows)


# --- query shapes ---------------------------------------------------------------------------


@dataclass
class Shape:
    """One kind of ``GET /api/incidents`` call, and the arguments the API passes to
    web/queries.py for it (to EXPLAIN the same statements)."""

    name: str
    params: dict[str, str]
    restricted: bool = False  # with the key that reaches only some services
    status: str | None = None
    service_ids: frozenset[str] | None = None
    limit: int = 50
    deep: bool = False
    cursor: tuple[datetime, str] | None = None
    plans: dict[str, str] = field(default_factory=dict)
    plan_ms: dict[str, float] = field(default_factory=dict)

    def scans(self, query: str) -> list[str]:
        """The index (or 'Seq Scan') of each scan of the incident table in that plan; scans
        of incident_tally (the total's few rows per service) are named with their table."""
        plan = self.plans.get(query, "")
        found = [m.group(2) or m.group(1) for m in SCAN.finditer(plan) if m.group(3) == "incident"]
        found += [f"{m.group(2) or m.group(1)} on incident_tally" for m in SCAN.finditer(plan)
                  if m.group(3) == "incident_tally"]  # fmt: skip
        found += [f"bitmap {m.group(1)}" for m in BITMAP.finditer(plan)
                  if INCIDENT_INDEX.match(m.group(1))]  # fmt: skip
        return found

    def seq_scan(self, query: str = "page") -> bool:
        """Whether the plan reads the incident table sequentially."""
        return "Seq Scan" in self.scans(query)


def shapes(loaded: Loaded, restricted: frozenset[str]) -> list[Shape]:
    busiest, quiet = loaded.services[0], loaded.services[-1]
    some = sorted(restricted)
    return [
        Shape("all, first page", {}),
        Shape("all, deep page", {}, deep=True),
        Shape("all, limit 200", {"limit": "200"}, limit=200),
        Shape("status=triggered", {"status": "triggered"}, status="OPEN"),
        Shape("status=acknowledged, deep", {"status": "acknowledged"}, status="ACKNOWLEDGED",
              deep=True),
        Shape("status=resolved, deep", {"status": "resolved"}, status="RESOLVED", deep=True),
        Shape("busiest service", {"serviceId": busiest}, service_ids=frozenset({busiest})),
        Shape("busiest service, deep", {"serviceId": busiest}, service_ids=frozenset({busiest}),
              deep=True),
        Shape("quietest service", {"serviceId": quiet}, service_ids=frozenset({quiet})),
        Shape("busiest service + status=triggered", {"serviceId": busiest, "status": "triggered"},
              status="OPEN", service_ids=frozenset({busiest})),
        Shape(f"key for {len(some)} services", {}, restricted=True, service_ids=restricted),
        Shape(f"key for {len(some)} services + status=triggered", {"status": "triggered"},
              restricted=True, status="OPEN", service_ids=restricted),
        Shape(f"key for {len(some)} services, deep", {}, restricted=True, service_ids=restricted,
              deep=True),
    ]  # fmt: skip


async def prepare(engine: AsyncEngine, shape: Shape) -> None:
    """A deep page's cursor is that of the row ``DEEP`` of the way through the shape's rows
    (what a client reaches by following nextCursor), found once here."""
    if not shape.deep:
        return
    filters = incident_filters(shape.status, shape.service_ids)
    async with session_scope(engine) as session:
        total = (await session.exec(incident_total_query(shape.status, shape.service_ids))).one()
        row = (
            await session.exec(
                select(Incident)
                .where(*filters)
                .order_by(col(Incident.created_at).desc(), col(Incident.id).desc())
                .offset(max(0, int(total * DEEP) - 1))
                .limit(1)
            )
        ).first()
    if row is not None:
        shape.cursor = (row.created_at, row.id)
        shape.params = shape.params | {"cursor": encode_cursor(row)}


async def explain(engine: AsyncEngine, shape: Shape) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the page query and the total's count, as the API builds
    them, compiled with their values inlined."""
    filters = incident_filters(shape.status, shape.service_ids)
    statements = {
        "page": incident_page_query(filters, shape.limit, shape.cursor),
        "count": incident_total_query(shape.status, shape.service_ids),
    }
    async with engine.connect() as conn:
        for name, statement in statements.items():
            sql = str(
                statement.compile(
                    dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
                )
            )
            await record_plan(conn, shape, name, sql)
            if name == "count" and shape.seq_scan("count"):
                # Would an index have done better? Ask for the best plan without Seq Scan.
                await conn.execute(text("SET LOCAL enable_seqscan = off"))
                await record_plan(conn, shape, "count without seq scan", sql)
            await conn.rollback()


async def record_plan(conn: AsyncConnection, shape: Shape, name: str, sql: str) -> None:
    result = await conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}"))
    plan = "\n".join(str(r[0]) for r in result)
    shape.plans[name] = plan
    found = re.search(r"Execution Time: ([\d.]+) ms", plan)
    shape.plan_ms[name] = float(found.group(1)) if found else float("nan")


# --- the run --------------------------------------------------------------------------------


@dataclass
class ShapeResult:
    shape: Shape
    concurrency: int
    elapsed: float
    latencies: list[float]
    outcomes: Counter[str]
    cpu: dict[str, float]  # cores per component while this shape ran
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    @property
    def errors(self) -> int:
        return sum(self.outcomes.values()) - len(self.latencies)

    def ms(self, q: float) -> float:
        return 1000 * nearest_rank(self.latencies, q)


@dataclass
class Run:
    loaded: Loaded
    results: list[ShapeResult]
    rss_mb: dict[str, float]
    pg_version: str


async def closed_loop(
    call: Callable[[], Awaitable[str]], seconds: float, concurrency: int
) -> tuple[list[float], Counter[str], float]:
    """``concurrency`` tasks each sending the next request when the last is answered;
    returns the latencies of the "ok" answers, every answer's label, and the elapsed time."""
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    deadline = time.perf_counter() + seconds

    async def sender() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                label = await call()
            except httpx.HTTPError as err:
                label = type(err).__name__
            outcomes[label] += 1
            if label == "ok":
                latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return latencies, outcomes, time.perf_counter() - began


async def measure(stack: Stack, args: argparse.Namespace) -> Run:
    engine = create_engine(Settings(database_url=stack.database_url))
    with Monitor(roots(stack)) as whole:
        try:
            loaded = await bulk_load(engine, args.services, args.incidents, args.seed)
            print(f"loaded {loaded.rows} in {loaded.seconds:.1f}s", flush=True)
            restricted = frozenset(loaded.services[1 : 1 + args.restricted_services])
            async with session_scope(engine) as session:
                # Keyed as the API keys them when this environment has its key; the API
                # finds a key stored unkeyed too.
                hasher = ApiKeyHasher.from_settings(Settings())
                _, key = await create_api_key(
                    session, "bench read", ["incidents:read"], hasher=hasher
                )
                _, some_key = await create_api_key(
                    session,
                    "bench read some",
                    ["incidents:read"],
                    sorted(restricted),
                    hasher=hasher,
                )
                conn = await session.connection()
                pg_version = str((await conn.execute(text("SHOW server_version"))).scalar_one())
            todo = shapes(loaded, restricted)
            for shape in todo:
                await prepare(engine, shape)
                await explain(engine, shape)
            results = []
            async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as http:
                for shape in todo:
                    used = some_key if shape.restricted else key
                    results.append(await run_shape(http, used, shape, stack, args))
        finally:
            await engine.dispose()
    return Run(loaded, results, whole.peak_rss_mb(), pg_version)


async def run_shape(
    http: httpx.AsyncClient, key: str, shape: Shape, stack: Stack, args: argparse.Namespace
) -> ShapeResult:
    headers = {"Authorization": f"Bearer {key}"}

    async def call() -> str:
        response = await http.get("/api/incidents", params=shape.params, headers=headers)
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        return "ok" if response.json()["incidents"] else "empty page"

    for _ in range(3):  # warm the API's pools and PostgreSQL's caches
        await call()
    with Monitor(roots(stack)) as monitor:
        latencies, outcomes, elapsed = await closed_loop(call, args.seconds, args.concurrency)
    result = ShapeResult(shape, args.concurrency, elapsed, latencies, outcomes, monitor.cpu)
    if result.errors:
        result.failures.append(", ".join(f"{k} x{v}" for k, v in outcomes.items() if k != "ok"))
    if result.ms(0.99) >= TARGET_P99_MS:
        result.notes.append(f"p99 above the {TARGET_P99_MS:g} ms target")
    if shape.seq_scan("page"):
        result.failures.append("the page query scans incident sequentially")
    if shape.seq_scan("count"):
        # `total` counts every match (docs/api.md): reading them all is the plan's choice.
        result.notes.append("total: Seq Scan (counts every matching row)")
    return result


# --- reporting ------------------------------------------------------------------------------


def results_table(run: Run) -> str:
    rows = []
    for r in run.results:
        shape = r.shape
        rows.append([
            shape.name, f"{r.rate:.0f}", f"{r.ms(0.5):.1f}", f"{r.ms(0.95):.1f}",
            f"{r.ms(0.99):.1f}", f"{r.cpu.get('api', 0):.2f}", f"{r.cpu.get('postgres', 0):.2f}",
            f"{', '.join(shape.scans('page'))} ({shape.plan_ms['page']:.1f})",
            f"{', '.join(shape.scans('count'))} ({shape.plan_ms['count']:.1f})",
            "; ".join([f"FAILED: {f}" for f in r.failures] + r.notes) or "ok",
        ])  # fmt: skip
    header = [
        "Query shape", "Requests/s", "p50 ms", "p95 ms", "p99 ms", "API cores",
        "Postgres cores", "Page: index (EXPLAIN ms)", "Total: index (EXPLAIN ms)", "Checks",
    ]  # fmt: skip
    return markdown_table(header, rows, "lrrrrrr")


def forced(run: Run) -> str:
    """The same counts with Seq Scan disabled: whether an index would have been faster."""
    pairs = [
        (r.shape.name, r.shape.plan_ms["count"], r.shape.plan_ms["count without seq scan"],
         ", ".join(r.shape.scans("count without seq scan")))
        for r in run.results
        if "count without seq scan" in r.shape.plans
    ]  # fmt: skip
    if not pairs:
        return ""
    listed = "; ".join(f"{n}: {a:.1f} ms vs {b:.1f} ms ({i})" for n, a, b, i in pairs)
    return (
        "The same counts with sequential scans disabled (so PostgreSQL uses an index, "
        f"index-only where it can), Seq Scan vs index: {listed}. A count touches every "
        "matching row either way, so a new index would not make these cheaper; only a "
        "different `total` (kept counters, or a capped or estimated count) would."
    )


def api_cost(run: Run) -> str:
    """Where a request's time goes: the API's CPU per request against PostgreSQL's."""
    api = [1000 * r.cpu.get("api", 0) / r.rate for r in run.results if r.rate]
    pg = [r.shape.plan_ms["page"] + r.shape.plan_ms["count"] for r in run.results]
    if not api:
        return ""
    return (
        f"The API process spends {min(api):.1f}-{max(api):.1f} ms of CPU per request (auth, "
        f"two queries, rows to JSON) while PostgreSQL executes both statements in "
        f"{min(pg):.1f}-{max(pg):.1f} ms: at concurrency {run.results[0].concurrency} the API, "
        "not the database, sets the latency floor."
    )


def plans_block(run: Run) -> str:
    return "\n\n".join(
        f"-- {r.shape.name}: {name}\n{plan}"
        for r in run.results
        for name, plan in r.shape.plans.items()
    )


def docs_section(run: Run, info: dict[str, str], command: str, args: argparse.Namespace) -> str:
    when = report_when()
    loaded = run.loaded
    sizes = [loaded.per_service[s] for s in loaded.services]
    rss = ", ".join(f"{k} {v:.0f} MB" for k, v in run.rss_mb.items())
    worst = max(run.results, key=lambda r: r.ms(0.99))
    verdict = (
        f"Every shape's p99 is under {TARGET_P99_MS:g} ms"
        if worst.ms(0.99) < TARGET_P99_MS
        else f"The slowest shape, {worst.shape.name!r}, has p99 {worst.ms(0.99):.1f} ms "
        f"(target {TARGET_P99_MS:g} ms)"
    )
    seq = [r.shape.name for r in run.results if r.shape.seq_scan("page")]
    counted = [r.shape.name for r in run.results if r.shape.seq_scan("count")]
    return f"""{SECTION}

Generated by `bench/read_side.py` on {when}; rerun it to refresh this section.

```
{command}
```

- Machine: {describe_machine(info)}; PostgreSQL {run.pg_version}.
- Data, bulk-loaded with COPY in {loaded.seconds:.0f} s and then `VACUUM ANALYZE`d:
  {loaded.rows["incident"]:,} incidents, {loaded.rows["alert"]:,} alerts and
  {loaded.rows["timeline_entry"]:,} timeline rows over {len(sizes)} services (Zipf sizes:
  busiest {sizes[0]:,}, quietest {sizes[-1]:,} incidents); statuses
  {", ".join(f"{k} {v:.1%}" for k, v in STATUSES.items())}; created over 180 days.
- Each shape: `GET /api/incidents` through the API process (API-key auth included), closed
  loop, {args.concurrency} in flight for {args.seconds:g} s. "Deep" pages start at the cursor
  {DEEP:.0%} of the way through the shape's rows. The key for some services reaches
  {args.restricted_services} of them (`service_id IN (...)`). These are all the list's options
  (docs/api.md: `status`, `serviceId`, `limit`, `cursor`; newest first, no other sort, no
  urgency or time-range filter).
- Index columns: each statement is built by web/queries.py exactly as the API builds it and
  run under `EXPLAIN (ANALYZE, BUFFERS)`; "Page" is the page query, "Total" the count behind
  `total`; the times are PostgreSQL's own execution times.
- Peak RSS over the run (VmHWM summed over each component's processes): {rss}.

{results_table(run)}

{verdict}. Page queries that scan the incident table sequentially: {", ".join(seq) or "none"}.
Counts behind `total` that do: {", ".join(counted) or "none"}. `total` is exact ("counts all
matches of the filters", docs/api.md), so for a filter that matches most incidents PostgreSQL
reads them all whichever plan it picks: that count, not the page, grows with the table.
{forced(run)}
{api_cost(run)}

<details><summary>EXPLAIN (ANALYZE, BUFFERS) of every shape</summary>

```
{plans_block(run)}
```

</details>
"""


def csv_rows(run: Run, stamp: str, args: argparse.Namespace) -> list[Mapping[str, Any]]:
    rss = {f"peak_rss_{k}_mb": v for k, v in run.rss_mb.items()}
    worst = max(run.results, key=lambda r: r.ms(0.99))
    return [
        {
            "timestamp": stamp,
            "scenario": "read_side",
            "shape": r.shape.name,
            "smoke": args.smoke,
            "incidents": args.incidents,
            "services": args.services,
            "concurrency": r.concurrency,
            "seconds": r.elapsed,
            "requests": sum(r.outcomes.values()),
            "errors": r.errors,
            "per_second": r.rate,
            "p50_ms": r.ms(0.5),
            "p95_ms": r.ms(0.95),
            "p99_ms": r.ms(0.99),
            "page_scans": " ".join(r.shape.scans("page")),
            "page_explain_ms": r.shape.plan_ms["page"],
            "count_scans": " ".join(r.shape.scans("count")),
            "count_explain_ms": r.shape.plan_ms["count"],
            "page_seq_scan": r.shape.seq_scan("page"),
            # One target per run, stated on the slowest shape's row (python -m bench lists it).
            "target": (
                f"p99 < {TARGET_P99_MS:g} ms for every shape (slowest: {r.shape.name})"
                if r is worst
                else ""
            ),
            "target_met": r.ms(0.99) < TARGET_P99_MS if r is worst else "",
            **{f"cpu_{k}": v for k, v in r.cpu.items()},
            **rss,
            "checks": "; ".join(["FAILED: " + f for f in r.failures] + r.notes),
        }
        for r in run.results
    ]


# --- entry point ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.read_side", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--incidents", type=int, default=None, help="bulk-loaded (100000)")
    parser.add_argument("--services", type=int, default=None, help="(200)")
    parser.add_argument("--restricted-services", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=None, help="per query shape (5)")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--smoke", action="store_true", help="2,000 incidents, 0.3 s a shape")
    parser.add_argument("--write-docs", action="store_true", help=f"rewrite {SECTION!r}")
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where the CSV goes")
    args = parser.parse_args(argv)
    if args.smoke and args.write_docs:
        parser.error("--smoke numbers do not belong in the docs")
    args.incidents = args.incidents or (2_000 if args.smoke else 100_000)
    args.services = args.services or (20 if args.smoke else 200)
    args.seconds = args.seconds or (0.3 if args.smoke else 5.0)
    args.restricted_services = min(args.restricted_services, args.services - 1)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    interrupt_on_sigterm()
    began = time.monotonic()
    stamp = report_stamp()
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-read-") as tmp:
        with running_stack(Path(tmp)) as stack:
            print(f"stack up in {time.monotonic() - began:.1f}s", flush=True)
            run = asyncio.run(measure(stack, args))
    print(results_table(run))
    print("peak RSS MB: " + ", ".join(f"{k} {v:.0f}" for k, v in run.rss_mb.items()))
    path = write_csv(args.results_dir / f"read_side-{stamp}.csv", csv_rows(run, stamp, args))
    print(f"wrote {path}")
    if args.write_docs:
        command = "python -m bench.read_side " + shlex.join(
            argv if argv is not None else sys.argv[1:]
        )
        write_docs(docs_section(run, machine(), command.strip(), args), SECTION)
        print(f"rewrote {SECTION!r}")
    print(f"total {time.monotonic() - began:.1f}s")
    failed = [f"{r.shape.name}: {f}" for r in run.results for f in r.failures]
    for failure in failed:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
