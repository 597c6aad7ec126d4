"""The API as an ASGI application built from the environment's settings, for Hypercorn's
worker processes (``tocsin api`` runs ``TOCSIN_API_WORKERS`` of them) and any ASGI server."""

from web.app import create_app

app = create_app()
