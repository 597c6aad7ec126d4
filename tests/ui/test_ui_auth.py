"""Sign-in, CSRF and role rules of the web UI, over plain HTTP (no browser)."""

import asyncio
import json
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import make_tenant
from tests.ui.conftest import make_user, sign_in


async def test_pages_need_sign_in(ui_client: httpx.AsyncClient) -> None:
    response = await ui_client.get("/incidents")
    assert response.status_code == 302
    assert response.headers["location"].startswith("/login?next=/incidents")


async def test_sign_in_sets_a_safe_cookie_and_logout_ends_it(
    ui_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    admin = await make_user(engine, "admin")
    await sign_in(ui_client, admin)
    cookie = next(h for h in ui_client.cookies.jar)
    assert cookie.name == "tocsin_session"
    assert cookie.has_nonstandard_attr("HttpOnly")
    page = await ui_client.get("/incidents")
    assert page.status_code == 200 and "Incidents" in page.text
    from tests.ui.conftest import csrf_of

    await ui_client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert (await ui_client.get("/incidents")).status_code == 302


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    ui_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    user = await make_user(engine, "responder")
    from tests.ui.conftest import csrf_of

    token = csrf_of((await ui_client.get("/login")).text)
    wrong = await ui_client.post(
        "/login", data={"email": user.email, "password": "nope-nope", "csrf_token": token}
    )
    unknown = await ui_client.post(
        "/login",
        data={
            "email": f"nobody-{uuid.uuid4().hex[:8]}@example.com",
            "password": "nope-nope",
            "csrf_token": token,
        },
    )
    assert wrong.status_code == unknown.status_code == 401
    assert (
        "Email or password is wrong." in wrong.text
        and "Email or password is wrong." in unknown.text
    )


async def test_post_without_csrf_token_is_refused(
    ui_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    user = await make_user(engine, "admin")
    # Even sign-in needs the token (login CSRF).
    assert (
        await ui_client.post("/login", data={"email": user.email, "password": user.password})
    ).status_code == 403
    await sign_in(ui_client, user)
    response = await ui_client.post("/incidents/new", data={"title": "x", "service": "y"})
    assert response.status_code == 403
    response = await ui_client.post(
        "/incidents/new", data={"title": "x", "service": "y", "csrf_token": "forged"}
    )
    assert response.status_code == 403


async def test_observer_cannot_change_an_incident(
    ui_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    tenant = await make_tenant(engine)
    observer = await make_user(engine, "observer", [tenant.service_id])
    token = await sign_in(ui_client, observer)
    response = await ui_client.post(
        "/incidents/new",
        data={"title": "x", "service": tenant.service_id, "csrf_token": token},
    )
    assert response.status_code == 403


async def test_non_admin_sees_only_their_teams_services(
    ui_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    mine, other = await make_tenant(engine), await make_tenant(engine)
    responder = await make_user(engine, "responder", [mine.service_id])
    await sign_in(ui_client, responder)
    page = (await ui_client.get("/incidents/new")).text
    assert mine.service_name in page and other.service_name not in page


async def test_ui_is_not_in_the_openapi_document(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    ui = ("/login", "/logout", "/incidents", "/dashboard", "/static", "/")
    assert not [p for p in paths if p == "/" or p.startswith(ui[:-1])], sorted(paths)


async def test_first_admin_from_the_cli_signs_in(
    ui_client: httpx.AsyncClient, database_url: str
) -> None:
    """`tocsin user create --admin --password-stdin`, then sign in with that password."""
    import os
    import subprocess
    import sys
    import uuid

    from tests.ui.conftest import UiUser

    email = f"first-{uuid.uuid4().hex[:8]}@example.com"
    env = {**os.environ, "DATABASE_URL": database_url}
    cmd = [sys.executable, "-m", "tocsin.cli", "user", "create", "--admin", "--name", "Ada"]
    run = await asyncio.to_thread(
        subprocess.run,
        [*cmd, "--email", email, "--password-stdin", "--json"],
        input="correct horse battery\n",
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert '"role": "admin"' in run.stdout and "password" not in run.stdout
    user_id = json.loads(run.stdout)["id"]
    await sign_in(ui_client, UiUser(user_id, email, "correct horse battery", "admin"))
    short = await asyncio.to_thread(
        subprocess.run,
        [*cmd, "--email", f"x{email}", "--password-stdin", "--json"],
        input="short\n",
        env=env,
        capture_output=True,
        text=True,
    )
    assert short.returncode == 1 and "8 to 1024" in short.stdout
