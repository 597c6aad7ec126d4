"""The audit log page over plain HTTP: a change made in the UI is logged as the signed-in
person's, admins see it with filters and pages, everyone else is refused."""

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.ui.conftest import make_user, sign_in


async def test_ui_changes_are_logged_and_admins_read_them(
    engine: AsyncEngine, ui_client: httpx.AsyncClient
) -> None:
    admin = await make_user(engine, "admin")
    csrf = await sign_in(ui_client, admin)
    names = [f"ui-audit-{uuid.uuid4().hex[:6]}" for _ in range(3)]
    for name in names:
        created = await ui_client.post(
            "/admin/api-keys",
            data={"name": name, "scopes": "incidents:read", "csrf_token": csrf},
        )
        assert created.status_code == 200, created.text

    nav = await ui_client.get("/incidents")
    assert 'href="/admin/audit-log"' in nav.text
    mine = {"actor": f"user:{admin.id}", "action": "api_key.create"}
    page = await ui_client.get("/admin/audit-log", params=mine)
    assert page.status_code == 200
    assert all(name in page.text for name in names)
    assert "[redacted]" in page.text  # the key's hash

    first = await ui_client.get("/admin/audit-log", params=mine | {"limit": "2"})
    assert names[2] in first.text and names[0] not in first.text
    assert "Older entries" in first.text
    link = first.text.rsplit('<p><a href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    second = await ui_client.get(link)
    assert names[0] in second.text and names[2] not in second.text

    bad = await ui_client.get("/admin/audit-log", params={"since": "yesterday"})
    assert bad.status_code == 400 and "since" in bad.text


async def test_non_admins_are_refused(engine: AsyncEngine, ui_client: httpx.AsyncClient) -> None:
    responder = await make_user(engine, "responder")
    await sign_in(ui_client, responder)
    assert (await ui_client.get("/admin/audit-log")).status_code == 403
    assert "/admin/audit-log" not in (await ui_client.get("/incidents")).text


async def test_signed_out_is_sent_to_login(ui_client: httpx.AsyncClient) -> None:
    response = await ui_client.get("/admin/audit-log")
    assert response.status_code == 302 and "/login" in response.headers["location"]
