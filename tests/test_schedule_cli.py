"""``tocsin schedule create|show`` and ``tocsin override add``: the API's store functions
from the command line, with the same refusals naming the field."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from models.db import session_scope
from models.schedules import Schedule, ScheduleOverride
from tests.paging_helpers import make_user

TOCSIN = [sys.executable, "-m", "tocsin.cli"]


def run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run([*TOCSIN, *args], env=env, capture_output=True, text=True, timeout=60)


async def test_create_show_and_override(database_url: str, engine: AsyncEngine) -> None:
    ada, bob = await make_user(engine, "Ada"), await make_user(engine, "Bob")
    zone = ZoneInfo("Europe/Berlin")
    start = (datetime.now(zone) - timedelta(days=30)).strftime("%Y-%m-%dT09:00")
    layers = [{"start": start, "users": [ada.id, bob.id], "shift": {"kind": "days", "days": 1}}]
    made = run(
        database_url,
        "schedule",
        "create",
        "--name",
        f"cli-{ada.id}",
        "--time-zone",
        "Europe/Berlin",
        "--layers-json",
        json.dumps(layers),
        "--json",
    )
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    async with session_scope(engine) as session:
        schedule = await session.get(Schedule, created["id"])
        assert schedule is not None and schedule.time_zone == "Europe/Berlin"
        assert [layer["users"] for layer in schedule.layers] == [[ada.id, bob.id]]

    cover = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    added = run(
        database_url,
        "override",
        "add",
        "--schedule",
        created["id"],
        "--user",
        bob.id,
        "--replaces",
        ada.id,
        "--start",
        cover.isoformat(),
        "--end",
        (cover + timedelta(days=2)).isoformat(),
    )
    assert added.returncode == 0, added.stderr
    override_id = added.stdout.splitlines()[0].removeprefix("id: ")
    async with session_scope(engine) as session:
        override = await session.get(ScheduleOverride, override_id)
        assert override is not None and override.replaces_user_id == ada.id

    naive = run(
        database_url,
        "override",
        "add",
        "--schedule",
        created["id"],
        "--user",
        bob.id,
        "--start",
        "2026-03-02T00:00",
        "--end",
        "2026-03-03T00:00Z",
    )
    assert naive.returncode == 1 and naive.stderr.startswith("error: start: "), naive.stderr

    shown = json.loads(run(database_url, "schedule", "show", created["id"], "--json").stdout)
    assert shown["time_zone"] == "Europe/Berlin"
    first, last = datetime.fromisoformat(shown["from"]), datetime.fromisoformat(shown["to"])
    assert first.astimezone(zone).strftime("%H:%M") == "00:00"
    assert timedelta(days=14) - timedelta(hours=1) <= last - first <= timedelta(days=14, hours=1)
    shifts = shown["shifts"]
    assert shifts[0]["start"] == shown["from"] and shifts[-1]["end"] == shown["to"]
    assert {s["user_name"] for s in shifts} == {"Ada", "Bob"}
    assert [s for s in shifts if s["override_id"] == override_id]  # bob covers ada's days
    assert all(s["user_id"] == bob.id for s in shifts if s["override_id"])

    table = run(database_url, "schedule", "show", created["id"], "--days", "3")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith(f"cli-{ada.id} ({created['id']}), Europe/Berlin: ")
    assert "09:00 CET" in table.stdout or "09:00 CEST" in table.stdout
    assert any("Ada (layer 0)" in line for line in lines[1:])


def test_cli_refusals_name_the_field(database_url: str) -> None:
    bad_zone = run(
        database_url,
        "schedule",
        "create",
        "--name",
        "x",
        "--time-zone",
        "Mars/Base",
        "--layers-json",
        "[]",
    )
    assert bad_zone.returncode == 1 and bad_zone.stderr.startswith("error: timeZone: ")
    zero = [{"start": "2026-03-02T09:00", "users": ["u"], "shift": {"kind": "hours", "hours": 0}}]
    bad_shift = run(
        database_url,
        "schedule",
        "create",
        "--name",
        "x",
        "--time-zone",
        "UTC",
        "--layers-json",
        json.dumps(zero),
        "--json",
    )
    assert bad_shift.returncode == 1
    assert json.loads(bad_shift.stdout)["error"].startswith("layers.0.shift.hours.hours: ")
    not_json = run(
        database_url,
        "schedule",
        "create",
        "--name",
        "x",
        "--time-zone",
        "UTC",
        "--layers-json",
        "[",
    )
    assert not_json.returncode == 1 and "--layers-json" in not_json.stderr
    missing = run(
        database_url,
        "override",
        "add",
        "--schedule",
        "sch_nobody",
        "--user",
        "u",
        "--start",
        "2026-03-02T00:00Z",
        "--end",
        "2026-03-03T00:00Z",
    )
    assert missing.returncode == 1 and "unknown schedule sch_nobody" in missing.stderr
    assert run(database_url, "schedule", "show", "sch_nobody").returncode == 1
    assert run(database_url, "schedule", "show", "sch_nobody", "--days", "91").returncode == 1
