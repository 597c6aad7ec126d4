"""Applies the alembic migrations (``tocsin migrate``; ``tocsin up`` runs it too)."""

from alembic import command
from alembic.config import Config

from tocsin.settings import to_asyncpg_url


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "models:migrations")
    config.set_main_option("sqlalchemy.url", to_asyncpg_url(database_url))
    return config


def upgrade(database_url: str) -> None:
    """Bring the schema to the newest revision. Synchronous: call it outside an event loop
    (or through ``asyncio.to_thread``)."""
    command.upgrade(alembic_config(database_url), "head")
