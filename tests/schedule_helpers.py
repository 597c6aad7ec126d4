"""Test set-up for the schedules API: people, layers and schedules made through the API."""

import uuid
from typing import Any

import httpx

URL = "/api/schedules"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def created(http: httpx.AsyncClient, headers: dict[str, str], url: str, body: dict) -> Any:
    response = await http.post(url, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def new_user(http: httpx.AsyncClient, admin: dict[str, str], name: str = "Ada") -> str:
    body = {"name": name, "email": f"{unique(name.lower())}@example.com"}
    return str((await created(http, admin, "/api/users", body))["id"])


def layer(users: list[str], start: str = "2026-03-02T09:00", **extra: Any) -> dict[str, Any]:
    """A daily-handoff layer unless ``shift`` says otherwise."""
    return {"start": start, "users": users, "shift": {"kind": "days", "days": 1}} | extra


async def new_schedule(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    layers: list[dict[str, Any]],
    time_zone: str = "Europe/Berlin",
    **extra: Any,
) -> dict[str, Any]:
    body = {"name": unique("sched"), "timeZone": time_zone, "layers": layers} | extra
    return dict(await created(http, admin, URL, body))
