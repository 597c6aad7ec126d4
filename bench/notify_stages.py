"""Where scenario 4's time to notify goes, stage by stage, from each incident's history.

The bench knows when it sent a trigger and when the fake Slack got the first message; the
incident workflow's history holds the steps in between (server clock, this machine): the
run's start, its first workflow task (the worker's policy lookup, recipients and read-side
write) and the first page's activity. Each stage's p50/p99 names the bottleneck in a run.
"""

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from bench.report import fmt, markdown_table, nearest_rank
from workflows.ids import first_run_id

NAN = float("nan")
STAGES = {
    "accepted": "trigger sent → run started (HTTP, API, SignalWithStart)",
    "task_queued": "run started → its first workflow task started (server to worker)",
    "task_ran": "first workflow task started → completed (worker: lookups, read-side write)",
    "page_dispatched": "task completed → first delivery activity started (server to worker)",
    "page_sent": "delivery started → first Slack call arrived (worker, slack_sdk, fake)",
}


@dataclass(frozen=True)
class Watched:
    """One new incident of a paging service, with the bench's two instants (monotonic)."""

    incident_id: str
    workflow_id: str
    sent_at: float
    posted_at: float


async def measure(client: Client, watched: list[Watched]) -> dict[str, Any]:
    """``stage_<name>_p50_ms`` and ``_p99_ms`` for each of ``STAGES`` over ``watched``."""
    to_wall = time.time() - time.monotonic()
    spans: dict[str, list[float]] = {name: [] for name in STAGES}
    for w in watched:
        handle = client.get_workflow_handle(w.workflow_id, run_id=first_run_id(w.incident_id))
        marks = _marks([e async for e in handle.fetch_history_events()])
        if marks is None:
            continue
        instants = [w.sent_at + to_wall, *marks, w.posted_at + to_wall]
        for name, begin, end in zip(STAGES, instants, instants[1:], strict=False):
            spans[name].append(end - begin)
    return {
        f"stage_{name}_p{q}_ms": 1000 * nearest_rank(values, q / 100)
        for name, values in spans.items()
        for q in (50, 99)
    }


def _marks(events: list[HistoryEvent]) -> tuple[float, float, float, float] | None:
    """Run started, first task started, first task completed, first activity started."""
    started = task_started = task_completed = page_started = None
    first_activity: int | None = None
    for event in events:
        at = event.event_time.ToDatetime().timestamp()
        kind = event.WhichOneof("attributes")
        if kind == "workflow_execution_started_event_attributes":
            started = at
        elif kind == "workflow_task_started_event_attributes" and task_started is None:
            task_started = at
        elif kind == "workflow_task_completed_event_attributes" and task_completed is None:
            task_completed = at
        elif kind == "activity_task_scheduled_event_attributes" and first_activity is None:
            first_activity = event.event_id
        elif (
            kind == "activity_task_started_event_attributes"
            and event.activity_task_started_event_attributes.scheduled_event_id == first_activity
        ):
            page_started = at
    if None in (started, task_started, task_completed, page_started):
        return None
    return started, task_started, task_completed, page_started  # type: ignore[return-value]


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line per stage, p50 and p99 for each load."""
    return markdown_table(
        ["stage", *(f"{row['load']} p50 / p99 ms" for row in rows)],
        (
            [
                text,
                *(
                    f"{fmt(row.get(f'stage_{name}_p50_ms', NAN))} / "
                    f"{fmt(row.get(f'stage_{name}_p99_ms', NAN))}"
                    for row in rows
                ),
            ]
            for name, text in STAGES.items()
        ),
        "l" + "r" * len(rows),
    )
