"""The web UI: server-rendered pages on the same service layer as the API (docs/ui.md).

Every UI blueprint is made by ``ui_blueprint`` so that it shares the templates, answers
503 without a session key, and checks the CSRF token of every POST.
"""

from pathlib import Path

from quart import Blueprint, Quart
from quart_schema.openapi import QUART_SCHEMA_HIDDEN_ATTRIBUTE

from tocsin.settings import Settings
from web.security_headers import published_https
from web.ui.csrf import check_csrf, csrf_token
from web.ui.session import require_secret_key

WEB = Path(__file__).resolve().parent.parent
TEMPLATES = WEB / "templates"
STATIC = WEB / "static"
SESSION_COOKIE = "tocsin_session"


def ui_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint for UI pages: shared templates, secret-key and CSRF checks."""
    blueprint = Blueprint(name, import_name, template_folder=str(TEMPLATES))
    blueprint.before_request(require_secret_key)
    blueprint.before_request(check_csrf)
    return blueprint


def register_ui(app: Quart, settings: Settings) -> None:
    """Session cookie, static files and every UI blueprint; none of it in the OpenAPI."""
    from web.ui import admin, auth, dashboard, incidents, policies, schedules, services

    if settings.secret_key is not None:
        app.secret_key = settings.secret_key.get_secret_value()
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=published_https(settings),
    )
    app.jinja_env.globals["csrf_token"] = csrf_token
    # The app's own /static route (Quart always adds one) serves web/static.
    app.static_folder = str(STATIC)
    blueprints = [auth.blueprint, incidents.blueprint, dashboard.blueprint]
    blueprints += [services.blueprint, schedules.blueprint, admin.blueprint]
    blueprints.append(policies.blueprint)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    hide_from_openapi(app, {b.name for b in blueprints} | {"static"})


def hide_from_openapi(app: Quart, blueprint_names: set[str]) -> None:
    for endpoint, view in app.view_functions.items():
        if endpoint.split(".", 1)[0] in blueprint_names:
            # A static route is a bound method: mark its function.
            setattr(getattr(view, "__func__", view), QUART_SCHEMA_HIDDEN_ATTRIBUTE, True)
