"""Sign-in and sign-out with email and password; failed sign-ins are throttled per account
and per client address (web/ui/login_throttle.py)."""

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from quart import g, redirect, render_template, request, session, url_for
from sqlmodel import select

from models import User
from models.db import session_scope
from models.passwords import verify_password
from web.auth import Principal
from web.runtime import runtime
from web.ui import ui_blueprint
from web.ui.csrf import csrf_token
from web.ui.login_throttle import login_keys, reserve, succeeded
from web.ui.session import USER_KEY, signed_in

blueprint = ui_blueprint("ui_auth", __name__)

P = ParamSpec("P")
R = TypeVar("R")
FAILED = "Email or password is wrong."


def page(view: Callable[P, Awaitable[Any]]) -> Callable[P, Awaitable[Any]]:
    """A page for signed-in people: others go to the sign-in page (and come back)."""

    @wraps(view)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        principal = await signed_in()
        if principal is None:
            return redirect(url_for("ui_auth.login", next=request.full_path.rstrip("?")))
        g.principal = principal
        return await view(*args, **kwargs)

    return wrapper


def principal() -> Principal:
    found: Principal = g.principal
    return found


def _safe_next(target: str | None) -> str:
    """Only paths on this site, never another host (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return url_for("ui_incidents.list_page")
    parts = urlsplit(target)
    return target if not parts.netloc and not parts.scheme else url_for("ui_incidents.list_page")


@blueprint.get("/login")
async def login() -> Any:
    return await render_template("login.html", next=request.args.get("next", ""), email="")


@blueprint.post("/login")
async def login_post() -> Any:
    form = await request.form
    email = form.get("email", "").strip().lower()
    password = form.get("password", "")
    rt = runtime()
    keys = login_keys(email, request.remote_addr)
    wait = await reserve(rt.engine, rt.settings, keys)
    if wait is not None:
        minutes = -(-wait // 60)
        error = f"Too many sign-in attempts. Try again in {minutes} minute(s)."
        page_html = await render_template(
            "login.html", next=form.get("next", ""), email=email, error=error
        )
        return page_html, 429, {"Retry-After": str(wait)}
    async with session_scope(rt.engine) as db:
        user = (await db.exec(select(User).where(User.email == email))).first()
    if not verify_password(user.password_hash if user else None, password) or user is None:
        page_html = await render_template(
            "login.html", next=form.get("next", ""), email=email, error=FAILED
        )
        return page_html, 401
    await succeeded(rt.engine, keys)
    # A fresh session (and CSRF token) at sign-in: nothing from before carries over.
    session.clear()
    session[USER_KEY] = user.id
    csrf_token()
    return redirect(_safe_next(form.get("next")))


@blueprint.post("/logout")
async def logout() -> Any:
    session.clear()
    return redirect(url_for("ui_auth.login"))
