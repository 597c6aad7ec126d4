"""The ``tocsin`` command: run the stack or its parts, and provision services and keys.

Every command takes ``--json`` and then prints exactly one JSON object.
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from tocsin.metrics_dir import use_metrics_dir
from tocsin.settings import Settings, get_settings


def _print(args: argparse.Namespace, result: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            shown = ",".join(value) if isinstance(value, list) else value
            print(f"{key}: {shown}")


def _with_session(
    settings: Settings, work: Callable[[Any], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    from models.db import create_engine, session_scope

    async def run() -> dict[str, Any]:
        _audit_as_cli()
        engine = create_engine(settings)
        try:
            async with session_scope(engine) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _audit_as_cli() -> None:
    """The audit log records what a command changes as ``cli``, with the OS user's name."""
    import getpass

    from models.audit import Actor, acting_as

    try:
        name: str | None = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, no USER: a bare container
        name = None
    acting_as(Actor("cli", name))


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from tocsin.devstack import run_stack

    return run_stack(settings)


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    use_metrics_dir(settings.data_dir, "api")  # before prometheus_client is imported
    from web.server import run_api

    return run_api(settings)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    use_metrics_dir(settings.data_dir, "worker")  # before prometheus_client is imported
    from tocsin.metrics import serve
    from tocsin.processes import run_copies, run_until_signalled
    from worker import run_worker, serve_from_environment

    if settings.worker_metrics_port is not None:
        # This process serves every copy's values (prometheus-client multiprocess mode).
        serve(settings.host, settings.worker_metrics_port)
    if settings.worker_processes > 1:
        # Several pollers of the one task queue: Temporal spreads the tasks among them.
        return run_copies(settings.worker_processes, serve_from_environment)
    run_until_signalled(lambda stop: run_worker(settings, stop))
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from models.migrate import upgrade

    if not settings.database_url:
        print("DATABASE_URL is not set", file=sys.stderr)
        return 2
    upgrade(settings.database_url)
    _print(args, {"status": "migrated"})
    return 0


def cmd_register_search_attributes(args: argparse.Namespace, settings: Settings) -> int:
    from tocsin.temporal import connect, register_search_attributes

    async def run() -> None:
        client = await connect(settings)
        await register_search_attributes(client, settings.temporal_namespace)

    asyncio.run(run())
    _print(args, {"status": "registered"})
    return 0


def cmd_service_create(args: argparse.Namespace, settings: Settings) -> int:
    from models.provisioning import create_integration, create_service

    async def work(session: Any) -> dict[str, Any]:
        service = await create_service(session, args.name, args.description)
        integration, key = await create_integration(session, service.id, "Default")
        return {
            "id": service.id,
            "name": service.name,
            "description": service.description,
            "integration_id": integration.id,
            "integration_key": key,
        }

    _print(args, _with_session(settings, work))
    return 0


def cmd_integration_create(args: argparse.Namespace, settings: Settings) -> int:
    from models.provisioning import create_integration
    from web.integrations.registry import INTEGRATION_TYPES, integration_url

    if args.type not in INTEGRATION_TYPES:
        print(f"--type must be one of {', '.join(INTEGRATION_TYPES)}", file=sys.stderr)
        return 2

    async def work(session: Any) -> dict[str, Any]:
        integration, key = await create_integration(
            session, args.service, args.name, type=args.type
        )
        return {
            "id": integration.id,
            "name": integration.name,
            "service_id": integration.service_id,
            "type": integration.type,
            "integration_key": key,
            "url": integration_url(settings.public_url, integration.type, key),
        }

    _print(args, _with_session(settings, work))
    return 0


def cmd_apikey_create(args: argparse.Namespace, settings: Settings) -> int:
    from models.provisioning import create_api_key
    from tocsin.keys import ApiKeyHasher

    scopes = ["admin"] if args.admin else _split(args.scopes)
    services = _split(args.services) if args.services else None

    async def work(session: Any) -> dict[str, Any]:
        api_key, key = await create_api_key(
            session,
            args.name,
            scopes,
            services,
            user_id=args.user,
            hasher=ApiKeyHasher.from_settings(settings),
        )
        return {
            "id": api_key.id,
            "name": api_key.name,
            "key": key,
            "scopes": api_key.scopes,
            "service_ids": api_key.service_ids,
            "user_id": api_key.user_id,
        }

    _print(args, _with_session(settings, work))
    return 0


def cmd_user_create(args: argparse.Namespace, settings: Settings) -> int:
    from models.directory import create_user
    from models.passwords import hash_password

    role = "admin" if args.admin else args.role
    # One line from stdin (a pipe or a prompt-less terminal), never an argument: arguments
    # show in `ps` and shell history.
    password_hash = (
        hash_password(sys.stdin.readline().rstrip("\r\n")) if args.password_stdin else None
    )

    async def work(session: Any) -> dict[str, Any]:
        user = await create_user(session, args.name, args.email, args.timezone, role)
        user.password_hash = password_hash
        return {
            "id": user.id,
            "name": user.name,
            "email": user.email,
            "timezone": user.timezone,
            "role": user.role,
        }

    _print(args, _with_session(settings, work))
    return 0


def cmd_team_create(args: argparse.Namespace, settings: Settings) -> int:
    from models.directory import create_team

    members = _split(args.members) if args.members else []

    async def work(session: Any) -> dict[str, Any]:
        team, member_ids = await create_team(session, args.name, members)
        return {"id": team.id, "name": team.name, "member_ids": member_ids}

    _print(args, _with_session(settings, work))
    return 0


@contextmanager
def _fields_named() -> Iterator[None]:
    """A refused change names its field as the API would (camelCase), e.g.
    ``layers.0.shift.hours.hours: ...``."""
    from pydantic.alias_generators import to_camel

    from models.errors import Conflict, InvalidValue, UnknownReference

    try:
        yield
    except (Conflict, InvalidValue, UnknownReference) as err:
        field = ".".join(to_camel(part) for part in err.field.split("."))
        raise ValueError(f"{field}: {err}") from err


def _instant(value: str, flag: str) -> Any:
    from datetime import datetime

    try:
        return datetime.fromisoformat(value)
    except ValueError as err:
        raise ValueError(f"{flag}: not an ISO 8601 date-time: {value!r}") from err


async def _replan(settings: Settings, schedule_id: str) -> None:
    """Tell the schedule's handoff workflow (only schedules with handoff notifications have
    one, so the CLI needs Temporal only for those)."""
    from tocsin.temporal import connect
    from web.handoffs import replan_handoffs

    client = await connect(settings)
    await replan_handoffs(client, settings.task_queue, schedule_id)


def cmd_schedule_create(args: argparse.Namespace, settings: Settings) -> int:
    from models.schedules_store import create_schedule

    try:
        layers = json.loads(args.layers_json)
    except ValueError as err:
        raise ValueError(f"--layers-json is not JSON: {err}") from err

    async def work(session: Any) -> dict[str, Any]:
        with _fields_named():
            schedule = await create_schedule(
                session,
                args.name,
                args.time_zone,
                layers,
                description=args.description,
                team_id=args.team,
            )
        return {
            "id": schedule.id,
            "name": schedule.name,
            "time_zone": schedule.time_zone,
            "layers": len(schedule.layers),
        }

    _print(args, _with_session(settings, work))
    return 0


def cmd_schedule_show(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime, time, timedelta

    from models.schedule_reads import schedule_shifts
    from models.schedules import Schedule
    from models.shifts import local, to_utc

    if not 1 <= args.days <= 90:
        raise ValueError("--days must be 1 to 90")

    async def work(session: Any) -> dict[str, Any]:
        schedule = await session.get(Schedule, args.id)
        if schedule is None:
            raise LookupError(f"unknown schedule {args.id}")
        zone = ZoneInfo(schedule.time_zone)
        today = local(datetime.now(UTC), zone).date()
        start = to_utc(datetime.combine(today, time()), zone)
        end = to_utc(datetime.combine(today + timedelta(days=args.days), time()), zone)
        found = await schedule_shifts(session, schedule.id, start, end)
        assert found is not None
        return {
            "id": schedule.id,
            "name": schedule.name,
            "time_zone": schedule.time_zone,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "shifts": [
                {
                    "user_id": view.user_id,
                    "user_name": view.user_name,
                    "start": view.start.isoformat(),
                    "end": view.end.isoformat(),
                    "local_start": view.start.astimezone(zone).isoformat(),
                    "local_end": view.end.astimezone(zone).isoformat(),
                    "layer": view.layer,
                    "override_id": view.override_id,
                }
                for view in found[1]
            ],
        }

    result = _with_session(settings, work)
    if args.json:
        print(json.dumps(result))
    else:
        print("\n".join(shift_table(result)))
    return 0


def shift_table(shown: dict[str, Any]) -> list[str]:
    """``schedule show`` as text: one row per shift in the schedule's local time, with the
    gaps where nobody is on call."""
    from datetime import datetime

    zone = ZoneInfo(shown["time_zone"])

    def at(value: str) -> str:
        shown = datetime.fromisoformat(value).astimezone(zone)
        return shown.strftime("%a %Y-%m-%d %H:%M %Z").ljust(26)

    rows = [
        f"{shown['name']} ({shown['id']}), {shown['time_zone']}: "
        f"{at(shown['from']).strip()} to {at(shown['to']).strip()}",
        f"{'from':26}{'to':26}on call",
    ]
    cursor = shown["from"]
    for shift in [*shown["shifts"], None]:
        gap_end = shown["to"] if shift is None else shift["start"]
        if datetime.fromisoformat(cursor) < datetime.fromisoformat(gap_end):
            rows.append(f"{at(cursor)}{at(gap_end)}(nobody)")
        if shift is None:
            break
        who = shift["user_name"] or shift["user_id"]
        source = "override" if shift["override_id"] else f"layer {shift['layer']}"
        rows.append(f"{at(shift['start'])}{at(shift['end'])}{who} ({source})")
        cursor = shift["end"]
    return rows


def cmd_override_add(args: argparse.Namespace, settings: Settings) -> int:
    from models.db import create_engine, session_scope
    from models.schedules import Schedule
    from models.schedules_store import add_override

    start, end = _instant(args.start, "--start"), _instant(args.end, "--end")

    async def run() -> dict[str, Any]:
        _audit_as_cli()
        engine = create_engine(settings)
        try:
            async with session_scope(engine) as session:
                schedule = await session.get(Schedule, args.schedule)
                if schedule is None:
                    raise LookupError(f"unknown schedule {args.schedule}")
                with _fields_named():
                    override = await add_override(
                        session, schedule, args.user, start, end, args.replaces
                    )
                notify = schedule.handoff_notifications
        finally:
            await engine.dispose()
        if notify:
            await _replan(settings, override.schedule_id)
        return {
            "id": override.id,
            "schedule_id": override.schedule_id,
            "user_id": override.user_id,
            "replaces_user_id": override.replaces_user_id,
            "start": override.start.isoformat(),
            "end": override.end.isoformat(),
        }

    _print(args, asyncio.run(run()))
    return 0


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON object")
    parser = argparse.ArgumentParser(prog="tocsin", description=__doc__, parents=[common])
    commands = parser.add_subparsers(dest="command", required=True)

    def command(sub: Any, name: str, handler: Callable[..., int], help: str) -> Any:
        p = sub.add_parser(name, help=help, parents=[common])
        p.set_defaults(handler=handler)
        return p

    command(commands, "up", cmd_up, "run the whole stack (what `make run` runs)")
    command(commands, "api", cmd_api, "serve the HTTP API")
    command(commands, "worker", cmd_worker, "run the Temporal worker")
    command(commands, "migrate", cmd_migrate, "apply database migrations")
    command(
        commands,
        "register-search-attributes",
        cmd_register_search_attributes,
        "add Tocsin's search attributes to an external Temporal namespace",
    )

    service = commands.add_parser("service", help="manage services").add_subparsers(
        dest="verb", required=True
    )
    p = command(service, "create", cmd_service_create, "create a service and its first key")
    p.add_argument("--name", required=True)
    p.add_argument("--description")

    integration = commands.add_parser("integration", help="manage integrations").add_subparsers(
        dest="verb", required=True
    )
    p = command(integration, "create", cmd_integration_create, "create an integration key")
    p.add_argument("--service", required=True, help="service id")
    p.add_argument("--name", required=True)
    p.add_argument(
        "--type",
        default="events",
        help="events (default), alertmanager, grafana, generic, datadog, sentry or "
        "cloudwatch; options are set through the API (docs/integrations.md)",
    )

    apikey = commands.add_parser("apikey", help="manage API keys").add_subparsers(
        dest="verb", required=True
    )
    p = command(apikey, "create", cmd_apikey_create, "create an API key")
    p.add_argument("--name", required=True)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--scopes", help="comma-separated, e.g. events:write")
    which.add_argument(
        "--admin", action="store_true", help="scope admin (bootstraps a fresh install)"
    )
    p.add_argument("--services", help="comma-separated service ids the key is limited to")
    p.add_argument("--user", help="user id the key acts for (limits it to the user's teams)")

    user = commands.add_parser("user", help="manage users").add_subparsers(
        dest="verb", required=True
    )
    p = command(user, "create", cmd_user_create, "create a user")
    p.add_argument("--name", required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--timezone", default="UTC", help="IANA time zone (default UTC)")
    p.add_argument("--role", default="responder", choices=["admin", "responder", "observer"])
    p.add_argument("--admin", action="store_true", help="role admin (the first admin)")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read a web UI password (8+ characters) from the first line of stdin",
    )

    team = commands.add_parser("team", help="manage teams").add_subparsers(
        dest="verb", required=True
    )
    p = command(team, "create", cmd_team_create, "create a team")
    p.add_argument("--name", required=True)
    p.add_argument("--members", help="comma-separated user ids")

    schedule = commands.add_parser("schedule", help="manage on-call schedules").add_subparsers(
        dest="verb", required=True
    )
    p = command(schedule, "create", cmd_schedule_create, "create an on-call schedule")
    p.add_argument("--name", required=True)
    p.add_argument("--time-zone", required=True, help="IANA time zone, e.g. Europe/Berlin")
    p.add_argument(
        "--layers-json",
        required=True,
        help='the layers as JSON, e.g. \'[{"start": "2026-03-02T09:00", "users": ["usr_…"], '
        '"shift": {"kind": "weekly", "handoffWeekday": 0, "handoffTime": "09:00"}}]\' '
        "(docs/schedules.md)",
    )
    p.add_argument("--description")
    p.add_argument("--team", help="team id")
    p = command(schedule, "show", cmd_schedule_show, "print the final shifts, local times")
    p.add_argument("id", help="schedule id")
    p.add_argument("--days", type=int, default=14, help="from today, 1 to 90 (default 14)")

    override = commands.add_parser("override", help="manage schedule overrides").add_subparsers(
        dest="verb", required=True
    )
    p = command(override, "add", cmd_override_add, "put someone on call for a while")
    p.add_argument("--schedule", required=True, help="schedule id")
    p.add_argument("--user", required=True, help="who covers")
    p.add_argument("--start", required=True, help="ISO 8601 with an offset")
    p.add_argument("--end", required=True, help="ISO 8601 with an offset")
    p.add_argument("--replaces", help="cover only where this user is on call")
    return parser


def configure_logging(settings: Settings) -> None:
    from tocsin.logs import configure

    configure(settings.log_level, json_lines=settings.log_format == "json")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    configure_logging(settings)
    try:
        return int(args.handler(args, settings))
    except (LookupError, ValueError) as err:
        if args.json:
            print(json.dumps({"error": str(err)}))
        else:
            print(f"error: {err}", file=sys.stderr)
        return 1


def run() -> NoReturn:
    """The ``tocsin`` command: ``main`` and exit with its code, without the interpreter
    finalization that Temporal's bridge threads can crash (tocsin/processes.py)."""
    from tocsin.processes import exit_without_finalizing

    exit_without_finalizing(main())


if __name__ == "__main__":
    run()
