"""The permission matrix: every route of the real app, every kind of caller: its status.

One table per way of signing in: ``API`` (Authorization header: none or an unknown key, API
keys per scope, a key limited to another service, keys of admin/responder/observer users, an
integration key) and ``UI`` (session cookies of admin/responder/observer users and of a
responder outside the service's team). A row says what a route needs (scopes, reach) and
answers when allowed; the expected status of every caller follows from that row alone
(``expected``), with the roles' scopes written out here rather than read from the product. A
route of ``create_app`` without a row fails, as does a row for a route that is gone.

No caller may see another service's data: a caller who cannot reach service A never finds
its id or its incident's id in a successful answer.
"""

import asyncio
import inspect
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from models import Team
from models.db import session_scope
from models.directory import add_member, create_team, create_user
from models.passwords import hash_password
from models.provisioning import SCOPES, create_api_key
from tests.conftest import API_KEYS, make_api_key
from tests.slack_support import command_body, signed
from tocsin.settings import Settings
from web.app import create_app

Reach = Literal["any", "service", "unlimited"]
PASSWORD = "matrix-password-1"


@dataclass
class Call:
    path: str
    json: Any = None
    content: str | None = None
    data: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] | None = None


Build = Callable[["World"], Call | Awaitable[Call]]


@dataclass(frozen=True)
class Row:
    """What a route needs. ``scopes``: any one of them (``admin`` has all); empty: the route
    takes no API key or session (public, or a key in the URL or body, or a signature).
    ``reach``: ``service`` — the call targets service A (or something of it);
    ``unlimited`` — only a caller not limited to some services may call it.
    ``ok``: the answer when allowed; ``denied``: when service A is out of reach."""

    build: Build
    scopes: tuple[str, ...] = ()
    reach: Reach = "any"
    ok: int = 200
    denied: int = 403
    ingest: bool = False  # an integration key authenticates here too


@dataclass(frozen=True)
class Who:
    """A caller as the permission rules see it."""

    scopes: frozenset[str]
    credentials: bool = True
    limited: bool = False  # limited to some services
    reaches_a: bool = True
    integration: bool = False


ALL = frozenset(SCOPES)
# The roles' scopes as docs/ui.md states them (web/auth.py ROLE_SCOPES must agree).
RESPONDER = frozenset({"incidents:read", "incidents:write", "services:read", "events:write"})
OBSERVER = frozenset({"incidents:read", "services:read"})

API_CALLERS: dict[str, Who] = {
    "none": Who(frozenset(), credentials=False),
    "unknown-key": Who(frozenset(), credentials=False),
    **{f"scope:{s}": Who(frozenset({s})) for s in sorted(SCOPES)},
    # Every scope, admin included, but only service B.
    "restricted": Who(ALL, limited=True, reaches_a=False),
    "user:admin": Who(frozenset({"admin"})),
    # Keys created with every scope they may hold; the role narrows them.
    "user:responder": Who(RESPONDER, limited=True),
    "user:observer": Who(OBSERVER, limited=True),
    "integration": Who(frozenset({"events:write"}), limited=True, integration=True),
}
UI_CALLERS: dict[str, Who] = {
    "none": Who(frozenset(), credentials=False),
    "admin": Who(frozenset({"admin"})),
    "responder": Who(RESPONDER, limited=True),
    "observer": Who(OBSERVER, limited=True),
    "outsider": Who(RESPONDER, limited=True, reaches_a=False),
}


def expected(row: Row, who: Who, *, anonymous: int) -> int:
    if not row.scopes:
        return row.ok
    if not who.credentials:
        return anonymous
    if who.integration and not row.ingest:
        return 401  # integration keys only send events
    if not any(s in who.scopes or "admin" in who.scopes for s in row.scopes):
        return 403
    if row.reach == "unlimited" and who.limited:
        return 403
    if row.reach == "service" and not who.reaches_a:
        return row.denied
    return row.ok


# --- the world every row acts on -------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class World:
    http: httpx.AsyncClient
    admin: dict[str, str]
    ids: dict[str, str]

    def __getattr__(self, name: str) -> str:
        try:
            return self.ids[name]
        except KeyError:
            raise AttributeError(name) from None

    async def post(self, path: str, body: Any) -> dict[str, Any]:
        response = await self.http.post(path, json=body, headers=self.admin)
        assert response.status_code in (200, 201), (path, response.text)
        return dict(response.json())

    async def fresh_service(self) -> str:
        """A service of team T (so the team's users reach it), for deletes."""
        body = {"name": unique("svc"), "teamId": self.team}
        return str((await self.post("/api/services", body))["id"])


async def build_world(http: httpx.AsyncClient, admin: dict[str, str], team: str) -> World:
    w = World(http, admin, {"team": team})
    w.ids["service_a"] = await w.fresh_service()
    w.ids["service_b"] = str((await w.post("/api/services", {"name": unique("svc")}))["id"])
    events = await w.post(f"/api/services/{w.service_a}/integrations", {"name": "events"})
    w.ids["integration_a"] = events["id"]
    w.ids["events_key"] = events["integrationKey"]
    generic = await w.post(
        f"/api/services/{w.service_a}/integrations",
        {"name": "g", "type": "generic", "config": {"dedupKey": "$.id", "summary": "$.title"}},
    )
    w.ids["generic_key"] = generic["integrationKey"]
    incident = await w.post("/api/incidents", {"title": "matrix", "serviceId": w.service_a})
    w.ids["incident_a"] = incident["id"]
    w.ids["user"] = str((await new_user(w))["id"])
    w.ids["policy"] = await new_policy(w)
    w.ids["schedule"] = await new_schedule(w)
    w.ids["rule"] = await new_rule(w)
    w.ids["spare_schedule"] = await new_schedule(w)
    spare = await w.post("/api/teams", {"name": unique("spare")})
    w.ids["spare_team"], w.ids["spare_team_name"] = spare["id"], spare["name"]
    feed = await w.post(f"/api/schedules/{w.schedule}/calendar-feeds", {})
    w.ids["feed_token"] = re.sub(r"^.*/api/calendar/|\.ics$", "", str(feed["url"]))
    return w


async def new_user(w: World) -> dict[str, Any]:
    return await w.post("/api/users", {"name": "M", "email": f"{unique('m')}@example.com"})


async def new_policy(w: World) -> str:
    return str((await w.post("/api/escalation-policies", policy_body(w)))["id"])


def policy_body(w: World) -> dict[str, Any]:
    step = {"delayMinutes": 5, "targets": [{"type": "user", "id": w.user}]}
    return {"name": unique("pol"), "steps": [step]}


def schedule_body(w: World) -> dict[str, Any]:
    layer = {"start": "2026-03-02T09:00", "users": [w.user], "shift": {"kind": "days", "days": 1}}
    return {"name": unique("sched"), "timeZone": "UTC", "layers": [layer]}


async def new_schedule(w: World) -> str:
    return str((await w.post("/api/schedules", schedule_body(w)))["id"])


async def new_rule(w: World, service: str | None = None) -> str:
    url = f"/api/services/{service or w.service_a}/suppression-rules"
    return str((await w.post(url, {"name": unique("r"), "source": "nowhere"}))["id"])


OVERRIDE = {"start": "2026-03-10T00:00:00Z", "end": "2026-03-11T00:00:00Z"}


def trigger(w: World) -> dict[str, Any]:
    return {
        "event_action": "trigger",
        "dedup_key": unique("d"),
        "payload": {"summary": "matrix", "source": "test", "severity": "info"},
    }


async def fresh_key(w: World) -> Call:
    key = await w.post("/api/api-keys", {"name": "gone", "scopes": ["events:write"]})
    return Call(f"/api/api-keys/{key['id']}")


async def fresh_service_call(w: World) -> Call:
    return Call(f"/api/services/{await w.fresh_service()}")


async def fresh_integration(w: World) -> Call:
    made = await w.post(f"/api/services/{w.service_a}/integrations", {"name": "gone"})
    return Call(f"/api/services/{w.service_a}/integrations/{made['id']}")


async def fresh_rule(w: World) -> Call:
    return Call(f"/api/services/{w.service_a}/suppression-rules/{await new_rule(w)}")


async def fresh_policy(w: World) -> Call:
    return Call(f"/api/escalation-policies/{await new_policy(w)}")


async def fresh_schedule(w: World) -> Call:
    return Call(f"/api/schedules/{await new_schedule(w)}")


async def fresh_override(w: World) -> Call:
    made = await w.post(f"/api/schedules/{w.schedule}/overrides", OVERRIDE | {"userId": w.user})
    return Call(f"/api/schedules/{w.schedule}/overrides/{made['id']}")


async def fresh_team(w: World) -> Call:
    made = await w.post("/api/teams", {"name": unique("team")})
    return Call(f"/api/teams/{made['id']}")


async def fresh_member(w: World) -> Call:
    user = (await new_user(w))["id"]
    made = await w.post("/api/teams", {"name": unique("team"), "memberIds": [user]})
    return Call(f"/api/teams/{made['id']}/members/{user}")


async def fresh_user(w: World) -> Call:
    return Call(f"/api/users/{(await new_user(w))['id']}")


async def fresh_method(w: World) -> Call:
    url = f"/api/users/{w.user}/contact-methods"
    made = await w.post(url, {"type": "email", "address": f"{unique('c')}@example.com"})
    return Call(f"{url}/{made['id']}")


def slack_command(w: World) -> Call:
    body = command_body(f"who {w.service_a}", user_id="U0MATRIX", username="m", response_url="")
    return Call("/api/slack/commands", content=body, headers=signed(body))


def slack_interaction(w: World) -> Call:
    # A signed interaction that names no known action: acknowledged and ignored.
    body = "payload=" + '{"type":"view_closed"}'
    return Call("/api/slack/interactions", content=body, headers=signed(body))


def v1_event(w: World) -> Call:
    body = {"service_key": w.events_key, "event_type": "trigger", "description": "m"}
    return Call("/generic/2010-04-15/create_event.json", json=body | {"incident_key": unique("d")})


def v2_event(w: World) -> Call:
    return Call("/v2/enqueue", json=trigger(w) | {"routing_key": w.events_key})


def v2_change(w: World) -> Call:
    body = {"routing_key": w.events_key, "payload": {"summary": "deploy", "source": "ci"}}
    return Call("/v2/change/enqueue", json=body)


def path(template: str, **kw: Any) -> Build:
    """A call to ``template`` with the world's ids filled in; ``body``: a JSON body, or a
    function of the world making one."""
    body = kw.pop("body", None)

    def build(w: World) -> Call:
        made = body(w) if callable(body) else body
        return Call(template.format(**w.ids), json=made, **kw)

    return build


INC = "/api/incidents/{incident_a}"
SVC = "/api/services/{service_a}"
SCHED = "/api/schedules/{schedule}"
USER = "/api/users/{user}"
READ_USERS = ("services:read", "users:write")
SR, SW, UW = ("services:read",), ("services:write",), ("users:write",)
IR, IW = ("incidents:read",), ("incidents:write",)

API: dict[tuple[str, str], Row] = {
    # public, or authenticated by their own means (key in the URL or body, Slack signature)
    ("GET", "/healthz"): Row(path("/healthz")),
    ("GET", "/readyz"): Row(path("/readyz")),
    # Open unless TOCSIN_METRICS_TOKEN is set (tests/test_observability.py checks the token).
    ("GET", "/metrics"): Row(path("/metrics")),
    ("GET", "/openapi.json"): Row(path("/openapi.json")),
    ("GET", "/docs"): Row(path("/docs")),
    ("GET", "/redocs"): Row(path("/redocs")),
    ("GET", "/scalar"): Row(path("/scalar")),
    ("GET", "/api/calendar/<token>.ics"): Row(path("/api/calendar/{feed_token}.ics")),
    ("POST", "/v2/enqueue"): Row(v2_event, ok=202),
    ("POST", "/v2/change/enqueue"): Row(v2_change, ok=202),
    ("POST", "/generic/2010-04-15/create_event.json"): Row(v1_event),
    ("POST", "/api/integrations/<integration_type>/<key>"): Row(
        path(
            "/api/integrations/generic/{generic_key}",
            body=lambda w: {"id": unique("d"), "title": "m"},
        ),
        ok=202,
    ),
    ("POST", "/api/slack/commands"): Row(slack_command),
    ("POST", "/api/slack/interactions"): Row(slack_interaction),
    # events
    ("POST", "/api/events"): Row(
        lambda w: Call("/api/events", json=trigger(w) | {"service_id": w.service_a}),
        ("events:write",),
        "service",
        ok=202,
        ingest=True,
    ),
    ("GET", "/api/priorities"): Row(path("/api/priorities"), IR),
    # incidents: another service's incident is missing (404), not forbidden
    ("GET", "/api/incidents"): Row(path("/api/incidents"), IR),
    ("POST", "/api/incidents"): Row(
        path("/api/incidents", body=lambda w: {"title": "m", "serviceId": w.service_a}),
        IW,
        "service",
        ok=201,
    ),
    ("GET", "/api/incidents/<incident_id>"): Row(path(INC), IR, "service", denied=404),
    ("PATCH", "/api/incidents/<incident_id>"): Row(
        path(INC, body={"urgency": "low"}), IW, "service", denied=404
    ),
    ("GET", "/api/incidents/<incident_id>/notes"): Row(
        path(f"{INC}/notes"), IR, "service", denied=404
    ),
    ("POST", "/api/incidents/<incident_id>/notes"): Row(
        path(f"{INC}/notes", body={"body": "n"}), IW, "service", ok=201, denied=404
    ),
    ("GET", "/api/incidents/<incident_id>/updates"): Row(
        path(f"{INC}/updates"), IR, "service", denied=404
    ),
    ("POST", "/api/incidents/<incident_id>/updates"): Row(
        path(f"{INC}/updates", body={"body": "u"}), IW, "service", ok=201, denied=404
    ),
    ("GET", "/api/incidents/<incident_id>/timeline"): Row(
        path(f"{INC}/timeline"), IR, "service", denied=404
    ),
    ("GET", "/api/incidents/<incident_id>/notifications"): Row(
        path(f"{INC}/notifications"), IR, "service", denied=404
    ),
    # services and what hangs off them: another service's is forbidden (403) whether or not
    # it exists
    ("GET", "/api/services"): Row(path("/api/services"), SR),
    ("POST", "/api/services"): Row(
        path("/api/services", body=lambda w: {"name": unique("svc")}), SW, "unlimited", ok=201
    ),
    ("GET", "/api/services/<service_id>"): Row(path(SVC), SR, "service"),
    ("PATCH", "/api/services/<service_id>"): Row(
        path(SVC, body={"description": "d"}), SW, "service"
    ),
    ("DELETE", "/api/services/<service_id>"): Row(fresh_service_call, SW, "service"),
    ("GET", "/api/services/<service_id>/change-events"): Row(
        path(f"{SVC}/change-events"), SR, "service"
    ),
    ("GET", "/api/services/<service_id>/integrations"): Row(
        path(f"{SVC}/integrations"), SR, "service"
    ),
    ("POST", "/api/services/<service_id>/integrations"): Row(
        path(f"{SVC}/integrations", body={"name": "i"}), SW, "service", ok=201
    ),
    ("PATCH", "/api/services/<service_id>/integrations/<integration_id>"): Row(
        path(f"{SVC}/integrations/{{integration_a}}", body={"name": "events"}), SW, "service"
    ),
    ("DELETE", "/api/services/<service_id>/integrations/<integration_id>"): Row(
        fresh_integration, SW, "service"
    ),
    ("GET", "/api/services/<service_id>/suppression-rules"): Row(
        path(f"{SVC}/suppression-rules"), (*SR, *SW), "service"
    ),
    ("POST", "/api/services/<service_id>/suppression-rules"): Row(
        path(f"{SVC}/suppression-rules", body=lambda w: {"name": "r", "source": "x"}),
        SW,
        "service",
        ok=201,
    ),
    ("GET", "/api/services/<service_id>/suppression-rules/<rule_id>"): Row(
        path(f"{SVC}/suppression-rules/{{rule}}"), (*SR, *SW), "service"
    ),
    ("PATCH", "/api/services/<service_id>/suppression-rules/<rule_id>"): Row(
        path(f"{SVC}/suppression-rules/{{rule}}", body={"enabled": True}), SW, "service"
    ),
    ("DELETE", "/api/services/<service_id>/suppression-rules/<rule_id>"): Row(
        fresh_rule, SW, "service", ok=204
    ),
    ("GET", "/api/services/<service_id>/webhook-secret"): Row(
        path(f"{SVC}/webhook-secret"), ("admin",), "unlimited"
    ),
    ("GET", "/api/oncall"): Row(
        lambda w: Call("/api/oncall", params={"serviceId": w.service_a}),
        SR,
        "service",
    ),
    # escalation policies and schedules: shared by services, so only unlimited keys change
    ("GET", "/api/escalation-policies"): Row(path("/api/escalation-policies"), SR),
    ("POST", "/api/escalation-policies"): Row(
        path("/api/escalation-policies", body=policy_body), SW, "unlimited", ok=201
    ),
    ("GET", "/api/escalation-policies/<policy_id>"): Row(
        path("/api/escalation-policies/{policy}"), SR
    ),
    ("PATCH", "/api/escalation-policies/<policy_id>"): Row(
        path("/api/escalation-policies/{policy}", body={"description": "d"}), SW, "unlimited"
    ),
    ("DELETE", "/api/escalation-policies/<policy_id>"): Row(fresh_policy, SW, "unlimited"),
    ("GET", "/api/schedules"): Row(path("/api/schedules"), SR),
    ("POST", "/api/schedules"): Row(
        path("/api/schedules", body=schedule_body), SW, "unlimited", ok=201
    ),
    ("GET", "/api/schedules/<schedule_id>"): Row(path(SCHED), SR),
    ("PATCH", "/api/schedules/<schedule_id>"): Row(
        path(SCHED, body={"description": "d"}), SW, "unlimited"
    ),
    ("DELETE", "/api/schedules/<schedule_id>"): Row(fresh_schedule, SW, "unlimited"),
    ("GET", "/api/schedules/<schedule_id>/oncall"): Row(path(f"{SCHED}/oncall"), SR),
    ("GET", "/api/schedules/<schedule_id>/shifts"): Row(path(f"{SCHED}/shifts"), SR),
    ("GET", "/api/schedules/<schedule_id>/overrides"): Row(path(f"{SCHED}/overrides"), SR),
    ("POST", "/api/schedules/<schedule_id>/overrides"): Row(
        path(f"{SCHED}/overrides", body=lambda w: OVERRIDE | {"userId": w.user}),
        SW,
        "unlimited",
        ok=201,
    ),
    ("DELETE", "/api/schedules/<schedule_id>/overrides/<override_id>"): Row(
        fresh_override, SW, "unlimited"
    ),
    ("POST", "/api/schedules/<schedule_id>/calendar-feeds"): Row(
        path(f"{SCHED}/calendar-feeds", body={}), SW, "unlimited", ok=201
    ),
    ("DELETE", "/api/schedules/<schedule_id>/calendar-feeds"): Row(
        lambda w: Call(f"/api/schedules/{w.ids['spare_schedule']}/calendar-feeds"),
        SW,
        "unlimited",
    ),
    # users, teams, API keys, audit log: they decide who reaches what, so unlimited keys only
    ("GET", "/api/users"): Row(path("/api/users"), READ_USERS),
    ("POST", "/api/users"): Row(
        path("/api/users", body=lambda w: {"name": "n", "email": f"{unique('n')}@example.com"}),
        UW,
        "unlimited",
        ok=201,
    ),
    ("GET", "/api/users/<user_id>"): Row(path(USER), READ_USERS),
    ("PATCH", "/api/users/<user_id>"): Row(path(USER, body={"name": "M"}), UW, "unlimited"),
    ("DELETE", "/api/users/<user_id>"): Row(fresh_user, UW, "unlimited"),
    ("GET", "/api/users/<user_id>/contact-methods"): Row(
        path(f"{USER}/contact-methods"), READ_USERS
    ),
    ("POST", "/api/users/<user_id>/contact-methods"): Row(
        path(
            f"{USER}/contact-methods",
            body=lambda w: {"type": "email", "address": f"{unique('c')}@example.com"},
        ),
        UW,
        "unlimited",
        ok=201,
    ),
    ("DELETE", "/api/users/<user_id>/contact-methods/<method_id>"): Row(
        fresh_method, UW, "unlimited"
    ),
    ("GET", "/api/users/<user_id>/notification-rules"): Row(
        path(f"{USER}/notification-rules"), READ_USERS
    ),
    ("PUT", "/api/users/<user_id>/notification-rules/<urgency>"): Row(
        path(f"{USER}/notification-rules/low", body={"channels": ["email"]}), UW, "unlimited"
    ),
    ("DELETE", "/api/users/<user_id>/notification-rules/<urgency>"): Row(
        path(f"{USER}/notification-rules/high"), UW, "unlimited"
    ),
    ("POST", "/api/users/<user_id>/calendar-feeds"): Row(
        path(f"{USER}/calendar-feeds", body={}), UW, "unlimited", ok=201
    ),
    ("DELETE", "/api/users/<user_id>/calendar-feeds"): Row(
        path(f"{USER}/calendar-feeds"), UW, "unlimited"
    ),
    ("GET", "/api/teams"): Row(path("/api/teams"), READ_USERS),
    ("POST", "/api/teams"): Row(
        path("/api/teams", body=lambda w: {"name": unique("team")}), UW, "unlimited", ok=201
    ),
    ("GET", "/api/teams/<team_id>"): Row(path("/api/teams/{team}"), READ_USERS),
    ("PATCH", "/api/teams/<team_id>"): Row(
        lambda w: Call(f"/api/teams/{w.spare_team}", json={"name": w.spare_team_name}),
        UW,
        "unlimited",
    ),
    ("DELETE", "/api/teams/<team_id>"): Row(fresh_team, UW, "unlimited"),
    ("POST", "/api/teams/<team_id>/members"): Row(
        path("/api/teams/{spare_team}/members", body=lambda w: {"userId": w.user}),
        UW,
        "unlimited",
        ok=200,
    ),
    ("DELETE", "/api/teams/<team_id>/members/<user_id>"): Row(fresh_member, UW, "unlimited"),
    ("GET", "/api/api-keys"): Row(path("/api/api-keys"), ("admin",), "unlimited"),
    ("POST", "/api/api-keys"): Row(
        path("/api/api-keys", body={"name": "k", "scopes": ["incidents:read"]}),
        ("admin",),
        "unlimited",
        ok=201,
    ),
    ("DELETE", "/api/api-keys/<key_id>"): Row(fresh_key, ("admin",), "unlimited"),
    ("GET", "/api/audit-log"): Row(path("/api/audit-log"), ("admin",), "unlimited"),
}


# --- the web UI: session cookies, roles; a POST carries the session's CSRF token ---------


def form(template: str, **fields: str) -> Build:
    """A UI form POST to ``template``; field values may name the world's ids too."""

    def build(w: World) -> Call:
        data = {k: v.format(**w.ids) for k, v in fields.items()}
        return Call(template.format(**w.ids), data=data)

    return build


def failed_sign_in(w: World) -> Call:
    """A new unknown email each time: failures of one email are throttled (5 per 15 min)."""
    email = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    return Call("/login", data={"email": email, "password": "wrong"})


async def fresh_ui_policy(w: World) -> Call:
    return Call(f"/policies/{await new_policy(w)}/delete", data={})


async def fresh_ui_integration(w: World) -> Call:
    made = await w.post(f"/api/services/{w.service_a}/integrations", {"name": "gone"})
    return Call(f"/services/{w.service_a}/integrations/{made['id']}/revoke", data={})


async def fresh_ui_key(w: World) -> Call:
    key = await w.post("/api/api-keys", {"name": "gone", "scopes": ["events:write"]})
    return Call(f"/admin/api-keys/{key['id']}/revoke", data={})


UI_INC = "/incidents/{incident_a}"
UI_SVC = "/services/{service_a}"
ADMIN = ("admin",)
# Re-rendered forms answer 200 (or 400 with the field's error) once allowed; a change
# redirects (302). Signed-out callers are sent to /login (302), POSTs included.
UI: dict[tuple[str, str], Row] = {
    ("GET", "/login"): Row(path("/login")),
    ("POST", "/login"): Row(failed_sign_in, ok=401),
    ("GET", "/static/<path:filename>"): Row(path("/static/tocsin.css")),
    ("GET", "/"): Row(path("/"), IR, ok=302),
    ("GET", "/dashboard"): Row(path("/dashboard"), IR),
    ("GET", "/incidents"): Row(path("/incidents"), IR),
    ("GET", "/incidents/rows"): Row(path("/incidents/rows"), IR),
    ("GET", "/incidents/new"): Row(path("/incidents/new"), IR),
    ("POST", "/incidents/new"): Row(
        form("/incidents/new", title="ui", service="{service_a}"),
        IW,
        "service",
        ok=302,
        denied=400,  # another team's service is not among the choices
    ),
    ("GET", "/incidents/<incident_id>"): Row(path(UI_INC), IR, "service", denied=404),
    ("POST", "/incidents/<incident_id>/<action>"): Row(
        form(f"{UI_INC}/note", body="n"), IW, "service", ok=302, denied=404
    ),
    ("GET", "/services"): Row(path("/services"), SR),
    ("GET", "/services/new"): Row(path("/services/new"), SW, "unlimited"),
    ("POST", "/services/new"): Row(
        lambda w: Call("/services/new", data={"name": unique("svc")}), SW, "unlimited", ok=302
    ),
    ("GET", "/services/<service_id>"): Row(path(UI_SVC), SR, "service"),
    ("GET", "/services/<service_id>/edit"): Row(path(f"{UI_SVC}/edit"), SW, "service"),
    ("POST", "/services/<service_id>/edit"): Row(
        form(f"{UI_SVC}/edit", name="{service_a_name}"), SW, "service", ok=302
    ),
    ("POST", "/services/<service_id>/integrations"): Row(
        form(f"{UI_SVC}/integrations", name="i", type="events"), SW, "service"
    ),
    ("POST", "/services/<service_id>/integrations/<integration_id>/revoke"): Row(
        fresh_ui_integration, SW, "service", ok=302
    ),
    ("GET", "/schedules"): Row(path("/schedules"), SR),
    ("GET", "/schedules/new"): Row(path("/schedules/new"), SW, "unlimited"),
    ("POST", "/schedules/new"): Row(form("/schedules/new"), SW, "unlimited", ok=400),
    ("GET", "/schedules/<schedule_id>"): Row(path("/schedules/{schedule}"), SR),
    ("GET", "/schedules/<schedule_id>/edit"): Row(
        path("/schedules/{schedule}/edit"), SW, "unlimited"
    ),
    ("POST", "/schedules/<schedule_id>/edit"): Row(
        form("/schedules/{schedule}/edit"), SW, "unlimited", ok=400
    ),
    ("POST", "/schedules/<schedule_id>/overrides"): Row(
        form(
            "/schedules/{schedule}/overrides",
            user_id="{user}",
            start="2026-03-10T00:00",
            end="2026-03-11T00:00",
        ),
        SW,
        "unlimited",
        ok=302,
    ),
    ("GET", "/policies"): Row(path("/policies"), SR),
    ("GET", "/policies/new"): Row(path("/policies/new"), SW, "unlimited"),
    ("POST", "/policies/new"): Row(form("/policies/new"), SW, "unlimited", ok=400),
    ("GET", "/policies/<policy_id>/edit"): Row(path("/policies/{policy}/edit"), SW, "unlimited"),
    ("POST", "/policies/<policy_id>/edit"): Row(
        form("/policies/{policy}/edit"), SW, "unlimited", ok=400
    ),
    ("POST", "/policies/<policy_id>/delete"): Row(fresh_ui_policy, SW, "unlimited", ok=302),
    ("GET", "/admin/api-keys"): Row(path("/admin/api-keys"), ADMIN, "unlimited"),
    ("POST", "/admin/api-keys"): Row(
        form("/admin/api-keys", name="k", scopes="incidents:read"), ADMIN, "unlimited"
    ),
    ("POST", "/admin/api-keys/<key_id>/revoke"): Row(fresh_ui_key, ADMIN, "unlimited", ok=302),
    ("GET", "/admin/audit-log"): Row(path("/admin/audit-log"), ADMIN, "unlimited"),
    ("GET", "/admin/users"): Row(path("/admin/users"), ADMIN, "unlimited"),
    ("POST", "/admin/users"): Row(
        lambda w: Call("/admin/users", data={"name": "n", "email": f"{unique('n')}@x.io"}),
        ADMIN,
        "unlimited",
        ok=302,
    ),
    ("POST", "/admin/users/<user_id>"): Row(
        form("/admin/users/{user}", name="M"), ADMIN, "unlimited", ok=302
    ),
    ("GET", "/admin/teams"): Row(path("/admin/teams"), ADMIN, "unlimited"),
    ("POST", "/admin/teams"): Row(
        lambda w: Call("/admin/teams", data={"name": unique("team")}), ADMIN, "unlimited", ok=302
    ),
    ("POST", "/admin/teams/<team_id>"): Row(
        form("/admin/teams/{spare_team}", name="{spare_team_name}"), ADMIN, "unlimited", ok=302
    ),
    # Last: it ends each caller's session.
    ("POST", "/logout"): Row(form("/logout"), ok=302),
}


# --- running the table -----------------------------------------------------------------


def app_routes() -> set[tuple[str, str]]:
    app = create_app(Settings(secret_key="matrix"))
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


def test_every_route_has_a_row() -> None:
    """A new route needs a row (in API, or UI for pages behind the session cookie)."""
    routes = app_routes()
    assert not set(API) & set(UI)
    missing = sorted(routes - set(API) - set(UI))
    gone = sorted((set(API) | set(UI)) - routes)
    assert not missing, f"routes without a row in the permission matrix: {missing}"
    assert not gone, f"rows for routes that do not exist: {gone}"


def test_role_scopes_match_the_documented_roles() -> None:
    from web.auth import ROLE_SCOPES

    assert ROLE_SCOPES == {
        "admin": frozenset({"admin"}),
        "responder": RESPONDER,
        "observer": OBSERVER,
    }


async def make_user(engine: AsyncEngine, role: str, team: str | None) -> tuple[str, str]:
    """A user who can sign in (id, email), in ``team`` if given."""
    email = f"{unique(role)}@example.com"
    async with session_scope(engine) as session:
        user = await create_user(session, role, email, role=role)
        user.password_hash = hash_password(PASSWORD)
        session.add(user)
    if team is not None:
        async with session_scope(engine) as session:
            found = await session.get(Team, team)
            assert found is not None
            await add_member(session, found, user.id)
    return user.id, email


async def user_key(engine: AsyncEngine, user_id: str, scopes: frozenset[str]) -> str:
    async with session_scope(engine) as session:
        _, key = await create_api_key(
            session, "matrix", sorted(scopes), None, hasher=API_KEYS, user_id=user_id
        )
    return key


async def new_team(engine: AsyncEngine) -> str:
    async with session_scope(engine) as session:
        team, _ = await create_team(session, unique("matrix"))
    return team.id


Send = Callable[[str, str, Call], Awaitable[httpx.Response]]


async def check(
    w: World, send: Send, method: str, row: Row, name: str, who: Who, anonymous: int
) -> list[str]:
    """One cell: the answer ``name`` gets, and what is wrong with it."""
    made = row.build(w)
    call = await made if inspect.isawaitable(made) else made
    response = await send(name, method, call)
    want = expected(row, who, anonymous=anonymous)
    if response.status_code != want:
        got = f"{response.status_code} (want {want}) {response.text[:160]!r}"
        return [f"{method} {call.path} as {name}: {got}"]
    if response.is_success and row.scopes and not who.reaches_a:
        shown = [k for k in ("service_a", "incident_a") if w.ids[k] in response.text]
        return [f"{method} {call.path} as {name} shows {k}" for k in shown]
    return []


async def run(
    callers: Mapping[str, Who],
    table: Mapping[tuple[str, str], Row],
    w: World,
    send: Send,
    *,
    anonymous: int,
) -> list[str]:
    """Every row for every caller (the callers of a row concurrently); the wrong answers."""
    wrong: list[str] = []
    for (method, _rule), row in table.items():
        cells = [check(w, send, method, row, n, who, anonymous) for n, who in callers.items()]
        for problems in await asyncio.gather(*cells):
            wrong += problems
    return wrong


@pytest.fixture
async def world(http: httpx.AsyncClient, engine: AsyncEngine) -> World:
    admin = {"Authorization": f"Bearer {await make_api_key(engine, ['admin'])}"}
    w = await build_world(http, admin, await new_team(engine))
    w.ids["service_a_name"] = (
        await http.get(f"/api/services/{w.service_a}", headers=admin)
    ).json()["name"]
    return w


async def test_api_permission_matrix(
    world: World, http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    w = world
    keys: dict[str, dict[str, str]] = {
        "none": {},
        "unknown-key": {"Authorization": "Bearer tk_not_a_key"},
    }
    for scope in sorted(SCOPES):
        keys[f"scope:{scope}"] = {"Authorization": f"Bearer {await make_api_key(engine, [scope])}"}
    restricted = await make_api_key(engine, sorted(SCOPES), [w.service_b])
    keys["restricted"] = {"Authorization": f"Bearer {restricted}"}
    for role in ("admin", "responder", "observer"):
        user_id, _ = await make_user(engine, role, w.team)
        # Every scope the key may be created with; the role narrows it.
        scopes = ALL if role == "admin" else ALL - {"admin"}
        keys[f"user:{role}"] = {
            "Authorization": f"Bearer {await user_key(engine, user_id, scopes)}"
        }
    keys["integration"] = {"Authorization": f"Token token={w.events_key}"}
    assert set(keys) == set(API_CALLERS)

    async def send(name: str, method: str, call: Call) -> httpx.Response:
        headers = call.headers | keys[name]
        return await http.request(
            method,
            call.path,
            json=call.json,
            content=call.content,
            data=call.data,
            params=call.params,
            headers=headers,
        )

    wrong = await run(API_CALLERS, API, w, send, anonymous=401)
    assert not wrong, "\n".join(wrong)


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def sign_in(client: httpx.AsyncClient, email: str | None) -> str:
    """Sign in (or stay anonymous); the session's CSRF token."""
    page = await client.get("/login")
    token = CSRF.search(page.text)
    assert token, page.text[:300]
    if email is None:
        return token.group(1)
    done = await client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert done.status_code == 302, done.text[:300]
    page = await client.get("/admin/users" if "admin" in email else "/incidents")
    token = CSRF.search(page.text)
    assert token, page.text[:300]
    return token.group(1)


async def test_ui_permission_matrix(world: World, api_url: str, engine: AsyncEngine) -> None:
    w = world
    clients = {name: httpx.AsyncClient(base_url=api_url, timeout=30) for name in UI_CALLERS}
    try:
        tokens: dict[str, str] = {"none": await sign_in(clients["none"], None)}
        for name in ("admin", "responder", "observer", "outsider"):
            role = "responder" if name == "outsider" else name
            _, email = await make_user(engine, role, None if name == "outsider" else w.team)
            tokens[name] = await sign_in(clients[name], email)

        async def send(name: str, method: str, call: Call) -> httpx.Response:
            data = None if call.data is None else call.data | {"csrf_token": tokens[name]}
            return await clients[name].request(
                method, call.path, data=data, params=call.params, headers=call.headers
            )

        wrong = await run(UI_CALLERS, UI, w, send, anonymous=302)
        assert not wrong, "\n".join(wrong)
    finally:
        for client in clients.values():
            await client.aclose()
