"""Serving the API with Hypercorn: in this process, or in ``TOCSIN_API_WORKERS`` child
processes that each bind the port with SO_REUSEPORT (the kernel spreads connections among
them) and die with their parent, as ``tocsin worker``'s copies do."""

import asyncio
import logging
import warnings

from hypercorn.asyncio import serve
from hypercorn.config import Config

from tocsin.processes import run_copies, run_until_signalled, unless_stopped
from tocsin.settings import Settings, get_settings
from tocsin.temporal import connect_waiting


def hypercorn_config(settings: Settings) -> Config:
    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    # Through the root logger, so they are JSON lines like every other (tocsin/logs.py).
    config.accesslog = logging.getLogger("hypercorn.access") if settings.access_log else None
    config.errorlog = logging.getLogger("hypercorn.error")
    # Longer than clients' and load balancers' idle timeouts, so the server is never the
    # side that closes a pooled connection while a request is being sent on it.
    config.keep_alive_timeout = 75
    # Hypercorn sets SO_REUSEPORT on the sockets it binds when there are several workers.
    config.workers = settings.api_workers
    return config


async def serve_api(settings: Settings, stop: asyncio.Event) -> None:
    from web.app import create_app

    # Connected before serving, so waiting for a Temporal server that is not up yet neither
    # runs into Hypercorn's startup timeout nor ignores SIGTERM.
    temporal = await unless_stopped(connect_waiting(settings), stop)
    if temporal is None:
        return
    app = create_app(settings, temporal)
    with warnings.catch_warnings():
        # ``workers`` is set for SO_REUSEPORT, not for ``serve`` to run processes.
        warnings.filterwarnings("ignore", "The config `workers` has no affect", Warning)
        await serve(app, hypercorn_config(settings), shutdown_trigger=stop.wait)  # type: ignore[arg-type]


def serve_from_environment() -> None:
    """One API process with the environment's settings (a child of ``tocsin api``)."""
    from tocsin.cli import configure_logging

    settings = get_settings()
    configure_logging(settings)
    run_until_signalled(lambda stop: serve_api(settings, stop))


def run_api(settings: Settings) -> int:
    """``tocsin api``: serve until SIGINT/SIGTERM."""
    if settings.api_workers > 1:
        return run_copies(settings.api_workers, serve_from_environment)
    run_until_signalled(lambda stop: serve_api(settings, stop))
    return 0
