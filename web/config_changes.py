"""Configuration changes pushed by PostgreSQL to every API process.

Triggers on the tables the ingest path caches (migration 0013) NOTIFY ``tocsin_config`` at
commit, whoever wrote: this process, another API worker, the CLI, SQL by hand. Each API
process LISTENs on a connection of its own and drops its cached configuration when one
arrives, so a revoked key or a new suppression rule applies everywhere at once while the
cache can keep answers long. When the connection is lost, changes made meanwhile were not
heard: the cache is dropped again on reconnecting, and meanwhile keeps answers only briefly.
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("tocsin.web.config_changes")
CHANNEL = "tocsin_config"
# How the listening connection shows in pg_stat_activity.
APPLICATION_NAME = "tocsin-config-listener"
# How often the connection is checked: a peer that vanished without closing the socket
# (a failover, a dropped route) is noticed within this plus the check's timeout.
CHECK_SECONDS = 15.0
CHECK_TIMEOUT_SECONDS = 5.0
# Waits between attempts to (re)connect: the first is short, then they double to the most.
RECONNECT_SECONDS = 1.0
MOST_RECONNECT_SECONDS = 10.0


async def follow_config_changes(
    engine: AsyncEngine, on_change: Callable[[], None], on_listening: Callable[[bool], None]
) -> None:
    """LISTEN until cancelled, reconnecting as needed. ``on_change`` runs for every change
    and whenever listening (re)starts; ``on_listening`` tells whether changes are heard."""
    args, params = engine.dialect.create_connect_args(engine.url)
    params["server_settings"] = params.get("server_settings", {}) | {
        "application_name": APPLICATION_NAME
    }
    wait = RECONNECT_SECONDS
    while True:
        try:
            connection: asyncpg.Connection = await asyncpg.connect(*args, **params)
        except (TimeoutError, OSError, asyncpg.PostgresError) as err:
            # Said once per outage, not once per attempt.
            level = logging.WARNING if wait == RECONNECT_SECONDS else logging.DEBUG
            log.log(level, "cannot listen for configuration changes yet: %s", err)
            await asyncio.sleep(wait)
            wait = min(wait * 2, MOST_RECONNECT_SECONDS)
            continue
        wait = RECONNECT_SECONDS
        try:
            await _listen(connection, on_change, on_listening)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            log.warning("lost the configuration-change connection: %s", err)
        finally:
            on_listening(False)
            connection.terminate()
        await asyncio.sleep(wait)


async def _listen(
    connection: asyncpg.Connection,
    on_change: Callable[[], None],
    on_listening: Callable[[bool], None],
) -> None:
    def heard(*_: Any) -> None:
        on_change()

    closed = asyncio.Event()
    connection.add_termination_listener(lambda *_: closed.set())
    await connection.add_listener(CHANNEL, heard)
    # Anything changed before this point was not heard.
    on_change()
    on_listening(True)
    while True:
        try:
            await asyncio.wait_for(closed.wait(), CHECK_SECONDS)
        except TimeoutError:
            await connection.execute("SELECT 1", timeout=CHECK_TIMEOUT_SECONDS)
        else:
            log.warning("the configuration-change connection closed; reconnecting")
            return
