"""The API as an ASGI application built from the environment's settings, for Hypercorn's
worker processes (``tocsin api`` runs ``TOCSIN_API_WORKERS`` of them) and any ASGI server."""

from tocsin.cli import configure_logging
from tocsin.settings import get_settings
from web.app import create_app

# A spawned process: its logging is not the parent's.
configure_logging(get_settings())
app = create_app()
