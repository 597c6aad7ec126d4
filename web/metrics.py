"""``GET /metrics`` (Prometheus text format) and the per-request bookkeeping behind it: the
request id every log line of a request carries, and the ingest endpoints' latency, refusals
and rate-limited requests (docs/observability.md)."""

import asyncio
import hmac
import logging
import time
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from quart import Blueprint, Quart, Response, g, request
from sqlalchemy import func, select
from sqlmodel import col

from models import Incident
from models.db import session_scope
from tocsin.metrics import EVENTS, INGEST_SECONDS, RATE_LIMITED, collector
from web import request_ids
from web.errors import ApiError
from web.runtime import runtime
from workflows.messages import Status

blueprint = Blueprint("metrics", __name__)

log = logging.getLogger("tocsin.metrics")

READ_SIDE_TIMEOUT_SECONDS = 2.0


@blueprint.get("/metrics")
async def metrics() -> Response:
    """Prometheus metrics of every API process (docs/observability.md). Open without
    TOCSIN_METRICS_TOKEN, like the probes; with it, ``Authorization: Bearer <token>``."""
    rt = runtime()
    token = rt.settings.metrics_token
    if token is not None:
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise ApiError(401, "UNAUTHORIZED", "Metrics need the metrics token")
    body = generate_latest(collector(await _open_incidents()))
    return Response(body, content_type=CONTENT_TYPE_LATEST)


class _Collected:
    """Values read at scrape time, handed to prometheus-client as a collector."""

    def __init__(self, *families: Metric) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families


async def _open_incidents() -> _Collected:
    """``tocsin_open_incidents`` from the read side: one query per scrape, by urgency and
    status (every status but RESOLVED). Left out when PostgreSQL does not answer in time:
    the rest of the metrics matter most then."""
    query = (
        select(col(Incident.urgency), col(Incident.status), func.count())
        .where(col(Incident.status) != Status.RESOLVED.value)
        .group_by(col(Incident.urgency), col(Incident.status))
    )
    family = GaugeMetricFamily(
        "tocsin_open_incidents",
        "Incidents not resolved, by urgency and status, as the read side has them.",
        labels=["urgency", "status"],
    )
    try:
        async with asyncio.timeout(READ_SIDE_TIMEOUT_SECONDS):
            async with session_scope(runtime().engine) as session:
                rows = (await session.execute(query)).all()
    except Exception as err:  # any failure of the read side: the scrape goes on without it
        log.warning("open incidents left out of /metrics: %r", err)
        return _Collected()
    for urgency, status, count in rows:
        family.add_metric([urgency, status], count)
    return _Collected(family)


def install(app: Quart, ingest_blueprints: frozenset[str]) -> None:
    """The request id of every request, and the ingest metrics of ``ingest_blueprints``."""
    app.register_blueprint(blueprint)

    @app.before_request
    async def start_request() -> None:
        g.started = time.perf_counter()
        view_args = request.view_args or {}
        g.request_id = request_ids.begin(
            request.headers.get(request_ids.HEADER), view_args.get("incident_id")
        )

    @app.after_request
    async def finish_request(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id is not None:
            response.headers[request_ids.HEADER] = request_id
        started = g.get("started")
        if request.blueprint in ingest_blueprints and request.endpoint and started is not None:
            count_ingest(
                request.endpoint,
                response.status_code,
                "Retry-After" in response.headers,
                time.perf_counter() - started,
            )
        return response


def count_ingest(endpoint: str, status: int, retry_after: bool, seconds: float) -> None:
    """An ingest endpoint's answer (``retry_after``: it says when to retry) in the metrics."""
    INGEST_SECONDS.labels(endpoint, str(status)).observe(seconds)
    # PagerDuty's v1 endpoint answers a throttled client 403, with Retry-After.
    if status == 429 or (status == 403 and retry_after):
        RATE_LIMITED.labels(endpoint).inc()
    elif status >= 500:
        EVENTS.labels("unknown", "failed").inc()
    elif status >= 400:
        EVENTS.labels("unknown", "rejected").inc()
