"""Log lines as one JSON object each, carrying the request, incident and workflow they are about.

The ids come from three places, so no call site has to pass them: ``bind`` (contextvars,
set per API request and per delivery activity), the ``temporal_workflow`` /
``temporal_activity`` extras that Temporal's ``workflow.logger`` and ``activity.logger``
attach, and ``activity.info()`` for plain loggers inside an activity. docs/observability.md
lists the fields.
"""

import json
import logging
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from temporalio import activity, workflow

from workflows.ids import incident_id

_bound: ContextVar[Mapping[str, str]] = ContextVar(
    "tocsin_log_fields", default=MappingProxyType({})
)


def begin(**fields: str | None) -> None:
    """Start a unit of work (an API request): its lines carry ``fields`` and nothing bound
    before; ``None`` values are left out."""
    _bound.set({k: v for k, v in fields.items() if v is not None})


def bind(**fields: str | None) -> None:
    """Add ids to every later line of the current context (an API request's task, an
    activity's task); ``None`` values are ignored."""
    _bound.set({**_bound.get(), **{k: v for k, v in fields.items() if v is not None}})


@contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """``bind`` for a block only."""
    token = _bound.set({**_bound.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _bound.reset(token)


def context_fields() -> dict[str, str]:
    return dict(_bound.get())


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, then the ids."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
            # Which of a command's processes (API and worker run several).
            "process": record.process,
        }
        line.update(_temporal_fields(record))
        line.update(context_fields())
        access = _access_fields(record)
        line.update(access)
        if record.exc_info:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(line, default=str, ensure_ascii=False)


def _message(record: logging.LogRecord) -> str:
    if record.name == "hypercorn.access" and isinstance(record.args, Mapping):
        # Hypercorn logs its format string with the request's atoms as the mapping.
        args = record.args
        return f"{args.get('m')} {args.get('U')} {args.get('s')}"
    return record.getMessage()


def _access_fields(record: logging.LogRecord) -> dict[str, Any]:
    """Hypercorn's access lines: the request id comes back in the response header the API
    sets (web/metrics.py), because the line is written outside the request's context."""
    if record.name != "hypercorn.access" or not isinstance(record.args, Mapping):
        return {}
    args = record.args
    fields: dict[str, Any] = {
        "method": args.get("m"),
        "path": args.get("U"),
        "status": int(str(args.get("s", 0))),
        "duration_ms": round(float(str(args.get("D", 0))) / 1000, 3),
        "remote": args.get("h"),
    }
    request_id = args.get("{x-request-id}o")
    if request_id and request_id != "-":
        fields["request_id"] = request_id
    return fields


def _temporal_fields(record: logging.LogRecord) -> dict[str, str]:
    """Workflow and activity ids from the SDK loggers' extras, else from the activity or
    workflow this line is logged in."""
    details = getattr(record, "temporal_workflow", None) or getattr(
        record, "temporal_activity", None
    )
    fields: dict[str, str | None] = {}
    if isinstance(details, Mapping):
        for key in ("workflow_id", "run_id", "workflow_type", "activity_type"):
            if details.get(key):
                fields[key] = str(details[key])
        # Activity extras name the run "workflow_run_id".
        if details.get("workflow_run_id"):
            fields["run_id"] = str(details["workflow_run_id"])
    elif activity.in_activity():
        running = activity.info()
        fields = {
            "workflow_id": running.workflow_id,
            "run_id": running.workflow_run_id,
            "activity_type": running.activity_type,
        }
    if workflow.in_workflow():
        info = workflow.info()
        if info.workflow_type == "Incident":
            fields["incident_id"] = incident_id(info.first_execution_run_id)
    return {k: v for k, v in fields.items() if v}


def configure(level: str, json_lines: bool) -> None:
    """Root logging: JSON lines or the readable text format (``tocsin up``)."""
    handler = logging.StreamHandler()
    if json_lines:
        handler.setFormatter(JsonFormatter())
        # The ids are fields of the line: the SDK loggers need not repeat them in the text.
        workflow.logger.workflow_info_on_message = False
        activity.logger.activity_info_on_message = False
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)
    for noisy in ("pgserver", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
