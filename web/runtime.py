"""Per-process resources the handlers share: settings, DB engine, Temporal client, limiter,
configuration cache."""

from dataclasses import dataclass

from quart import current_app
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from tocsin.settings import Settings
from web.commands import IncidentCommands
from web.config_cache import ConfigCache
from web.ratelimit import SharedLimiter
from web.readwait import ProjectionWaiter


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    client: Client
    commands: IncidentCommands
    limiter: SharedLimiter
    config: ConfigCache
    waiter: ProjectionWaiter


def runtime() -> Runtime:
    rt: Runtime = current_app.extensions["tocsin"]
    return rt
