"""The Quart application factory."""

import asyncio
import math

from quart import Quart, Response, request
from quart_schema import Info, QuartSchema
from temporalio.client import Client

from models.db import create_engine
from tocsin.processes import API_GC_YOUNG_THRESHOLD, settle_garbage_collector
from tocsin.settings import Settings, get_settings
from tocsin.temporal import connect
from web import (
    api_keys,
    audit_log,
    calendar_feeds,
    change_events,
    contact_methods,
    escalation_policies,
    events,
    health,
    incident_actions,
    incidents,
    metrics,
    native_integrations,
    notifications,
    oncall,
    pagerduty,
    priorities,
    schedules,
    service_integrations,
    services,
    slack,
    suppression,
    teams,
    users,
    webhooks,
)
from web.bodies import MAX_BODY_BYTES
from web.commands import IncidentCommands
from web.config_cache import ConfigCache
from web.config_changes import follow_config_changes
from web.errors import UNSTORABLE_URL, register_error_handlers
from web.ingest_asgi import IngestRoutes
from web.openapi_links import LinkedOpenAPIProvider
from web.ratelimit import SharedLimiter, sweep_forever
from web.readwait import ProjectionWaiter
from web.runtime import Runtime, runtime
from web.security_headers import register_security_headers
from web.text import storable
from web.ui import register_ui

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# How often each API process drops rate limit buckets older than every window.
RATE_LIMIT_SWEEP_SECONDS = 600.0
# Endpoints that receive events: they change incidents, never configuration.
INGEST_BLUEPRINTS = frozenset({"events", "native_integrations", "pagerduty"})


def create_app(settings: Settings | None = None, temporal: Client | None = None) -> Quart:
    """``temporal``: a client already connected (``tocsin api`` connects before serving);
    without it the app connects when it starts serving."""
    settings = settings or get_settings()
    app = Quart("tocsin")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    QuartSchema(
        app,
        info=Info(title="Tocsin", version="0.1.0", description="Incident alerting API"),
        openapi_path="/openapi.json",
        security_schemes={
            "integrationKey": {
                "type": "apiKey",
                "in_": "header",
                "name": "Authorization",
            },
            "apiKey": {"type": "http", "scheme": "bearer"},
        },
        security=[{"apiKey": []}, {"integrationKey": []}],
        openapi_provider_class=LinkedOpenAPIProvider,
    )
    register_error_handlers(app)
    metrics.install(app, INGEST_BLUEPRINTS)
    register_security_headers(app, settings)

    @app.before_request
    async def reject_unstorable_text() -> None:
        values = [*request.args.values(), *(request.view_args or {}).values()]
        if not storable(values):
            raise UNSTORABLE_URL

    for module in (
        health,
        events,
        native_integrations,
        pagerduty,
        incidents,
        incident_actions,
        notifications,
        priorities,
        users,
        contact_methods,
        teams,
        services,
        service_integrations,
        change_events,
        escalation_policies,
        schedules,
        calendar_feeds,
        oncall,
        api_keys,
        audit_log,
        suppression,
        webhooks,
        slack,
    ):
        app.register_blueprint(module.blueprint)
    register_ui(app, settings)
    # Ahead of Quart's request machinery: the ingest endpoints it answers on its own.
    app.asgi_app = IngestRoutes(app, settings)  # type: ignore[method-assign]

    @app.after_request
    async def forget_cached_config(response: Response) -> Response:
        """Any successful write may have changed a key or a rule the ingest path caches:
        this process applies it at once (the cache is cheap to refill)."""
        if (
            request.method not in SAFE_METHODS
            and response.status_code < 400
            and request.blueprint not in INGEST_BLUEPRINTS
        ):
            runtime().config.clear()
        return response

    @app.before_serving
    async def start_up() -> None:
        client = temporal or await connect(settings)
        engine = create_engine(settings)
        # The rate limiter and the read-side poller run on every event and outlive a failed
        # query on their own (falling back, polling again): no pre-ping round trip for them,
        # and a small pool (each holds a connection for one short statement at a time).
        unpinged = app.extensions["tocsin-unpinged-engine"] = create_engine(
            settings, pre_ping=False, pool_size=max(2, settings.db_pool_size // 4)
        )
        config = ConfigCache(engine, settings.config_cache_seconds)
        app.extensions["tocsin"] = Runtime(
            settings=settings,
            engine=engine,
            client=client,
            commands=IncidentCommands(
                client, settings.task_queue, update_wait_seconds=settings.update_wait_seconds
            ),
            limiter=SharedLimiter(
                unpinged, settings.rate_limit_requests, settings.rate_limit_window_seconds
            ),
            waiter=ProjectionWaiter(unpinged),
            config=config,
        )
        app.extensions["tocsin-config-changes"] = asyncio.create_task(
            follow_config_changes(engine, config.clear, config.set_hearing)
        )
        horizon = math.ceil(max(settings.rate_limit_window_seconds, settings.login_window_seconds))
        app.extensions["tocsin-sweeper"] = asyncio.create_task(
            sweep_forever(engine, horizon, RATE_LIMIT_SWEEP_SECONDS)
        )
        # Everything loaded so far (modules, the app, its schemas) lives as long as the
        # process.
        settle_garbage_collector(API_GC_YOUNG_THRESHOLD)

    @app.after_serving
    async def shut_down() -> None:
        rt: Runtime = app.extensions["tocsin"]
        app.extensions["tocsin-sweeper"].cancel()
        app.extensions["tocsin-config-changes"].cancel()
        await rt.waiter.close()
        await slack.close_slack(app)
        await rt.engine.dispose()
        await app.extensions["tocsin-unpinged-engine"].dispose()

    return app
