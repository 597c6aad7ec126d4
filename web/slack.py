"""Slack's requests: buttons on incident messages and the ``/tocsin`` slash command.

Slack signs every request instead of sending an API key, so these routes check the signature
on the raw body and take no API key. Slack gives up on an answer after 3 s, so the work runs
with a 2.5 s budget; what takes longer finishes in the background and reports through the
request's ``response_url``. Like every route, changes go through the incident's workflow
(web/commands.py); the Slack messages themselves are rewritten by the workflow's deliveries.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from quart import Blueprint, Quart, Response, current_app, request
from quart_schema import DataSource, document_request, document_response, security_scheme, tag
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from sqlalchemy import func, or_
from sqlmodel import col, select

from activities.slack_blocks import ACKNOWLEDGE, ASSIGN, RESOLVE, SNOOZE
from activities.slack_client import slack_client
from models import Incident, Service
from models.db import session_scope
from models.paging import on_call_users
from web.commands import CommandRejected, IncidentClosed
from web.errors import ApiError, error_responses
from web.incidents import find_incident
from web.runtime import runtime
from web.slack_parse import (
    CommandError,
    SlashCommand,
    parse_command,
    parse_duration,
    parse_interaction,
)
from web.slack_people import SlackPerson, slack_person
from web.slack_schemas import SlackCommandForm, SlackCommandReply, SlackInteractionForm
from workflows.messages import ChangeIn, NoteIn, Status

blueprint = Blueprint("slack", __name__)
log = logging.getLogger("tocsin.slack")

BUDGET_SECONDS = 2.5
_BUTTON_VERBS = {ACKNOWLEDGE: "acknowledge", RESOLVE: "resolve", SNOOZE: "snooze", ASSIGN: "assign"}
# Work still running after its answer was sent (kept referenced until it finishes).
_background: set[asyncio.Task[Any]] = set()


@dataclass(frozen=True)
class Outcome:
    text: str
    # False: something the person should be told (the incident is resolved, not linked...).
    done: bool = True


@blueprint.post("/api/slack/interactions")
@tag(["slack"])
@security_scheme([])
@document_request(SlackInteractionForm, source=DataSource.FORM)
@error_responses(400, 401, 503)
async def interactions() -> Response:
    """Buttons on Tocsin's Slack messages (Slack's interactivity request URL). Signed by
    Slack (``X-Slack-Signature``), no API key. Always an empty 200 within Slack's 3 s;
    problems are told to the clicker through ``response_url``."""
    form = await _verified_form()
    try:
        payload = json.loads(form.get("payload", ""))
    except (ValueError, RecursionError) as err:
        raise ApiError(400, "INVALID_REQUEST", "payload is not JSON", field="payload") from err
    interaction = parse_interaction(payload)
    if interaction is None:
        return Response("", 200)
    for action_id, value in interaction.actions:
        verb = _BUTTON_VERBS.get(action_id)
        if verb is None:
            continue
        command = SlashCommand(verb, value)
        work = partial(_act, command, interaction.user_id, interaction.username)
        outcome = await _within_budget(work, interaction.response_url, tell_success=False)
        if outcome is not None and not outcome.done:
            await _tell(interaction.response_url, outcome)
    return Response("", 200)


@blueprint.post("/api/slack/commands")
@tag(["slack"])
@security_scheme([])
@document_request(SlackCommandForm, source=DataSource.FORM)
@document_response(SlackCommandReply, 200)
@error_responses(401, 503)
async def commands() -> dict[str, Any]:
    """The ``/tocsin`` slash command: ``ack|resolve <incident id>``, ``snooze <incident id>
    [30m|2h|1d]``, ``note <incident id> <text>``, ``who <service id or name>``. Signed by
    Slack, no API key; answers privately (ephemeral) within Slack's 3 s."""
    form = await _verified_form()
    try:
        command = parse_command(form.get("text", ""))
    except CommandError as err:
        return _reply(Outcome(str(err), done=False))
    slack_id, username = form.get("user_id", ""), form.get("user_name", "")
    work: Callable[[], Awaitable[Outcome]] = (
        partial(_who, command.target)
        if command.verb == "who"
        else partial(_act, command, slack_id, username)
    )
    outcome = await _within_budget(work, form.get("response_url"), tell_success=True)
    if outcome is None:
        return _reply(Outcome("Working on it… I will tell you here when it is done."))
    return _reply(outcome)


async def _verified_form() -> dict[str, str]:
    """The form Slack sent, once its signature checks out (401 otherwise, nothing runs)."""
    secret = runtime().settings.slack_signing_secret
    if secret is None:
        raise ApiError(
            503, "SLACK_NOT_CONFIGURED", "Slack is not configured (TOCSIN_SLACK_SIGNING_SECRET)"
        )
    data = await request.get_data(as_text=False)
    body = data if isinstance(data, bytes) else data.encode()
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    verifier = SignatureVerifier(secret.get_secret_value())
    # is_valid also refuses timestamps more than 5 minutes off (replayed requests).
    if not (timestamp.isdigit() and signature and verifier.is_valid(body, timestamp, signature)):
        raise ApiError(401, "INVALID_SIGNATURE", "Missing, invalid or stale Slack signature")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


async def _within_budget(
    work: Callable[[], Awaitable[Outcome]], response_url: str | None, *, tell_success: bool
) -> Outcome | None:
    """The outcome if the work finishes within the budget; else None, and the work goes on
    and tells its outcome through ``response_url`` (a success only if ``tell_success``: a
    button's success shows as the message's own update)."""
    task = asyncio.ensure_future(_safely(work))
    try:
        return await asyncio.wait_for(asyncio.shield(task), BUDGET_SECONDS)
    except TimeoutError:
        later = asyncio.ensure_future(_tell_when_done(task, response_url, tell_success))
        _background.add(later)
        later.add_done_callback(_background.discard)
        return None


async def _safely(work: Callable[[], Awaitable[Outcome]]) -> Outcome:
    try:
        return await work()
    except Exception:
        log.exception("Slack action failed")
        return Outcome("Something went wrong; the incident may not have changed.", done=False)


async def _tell_when_done(
    task: "asyncio.Future[Outcome]", response_url: str | None, tell_success: bool
) -> None:
    outcome = await task
    if tell_success or not outcome.done:
        await _tell(response_url, outcome)


async def _tell(response_url: str | None, outcome: Outcome) -> None:
    if not response_url:
        return
    try:
        await AsyncWebhookClient(response_url).send(
            text=outcome.text, response_type="ephemeral", replace_original=False
        )
    except Exception as err:  # the person just does not see the note
        log.warning("could not answer Slack via response_url: %s", err)


def _reply(outcome: Outcome) -> dict[str, Any]:
    return SlackCommandReply(response_type="ephemeral", text=outcome.text).model_dump()


def _slack() -> AsyncWebClient | None:
    """One Web API client per app (for users.info), built on first use."""
    extensions = current_app.extensions
    if "tocsin.slack" not in extensions:
        extensions["tocsin.slack"] = slack_client(runtime().settings)
    client: AsyncWebClient | None = extensions["tocsin.slack"]
    return client


async def close_slack(app: Quart) -> None:
    """Release the app's Slack client's connections, if it made one."""
    client = app.extensions.pop("tocsin.slack", None)
    if client is not None:
        await client.close()


async def _act(command: SlashCommand, slack_id: str, username: str) -> Outcome:
    rt = runtime()
    found = await find_incident(command.target) if command.target else None
    if found is None:
        return Outcome(f"No incident {command.target}.", done=False)
    incident = found[0]
    if incident.status == Status.RESOLVED:
        return _already_resolved(incident)
    person = await slack_person(rt.engine, _slack(), slack_id, username)
    try:
        if command.verb == "note":
            note = NoteIn(kind="note", body=command.argument, actor=person.actor)
            await rt.commands.note(incident.workflow_id, incident.id, note)
            return Outcome(f"Note added to {incident.id}.")
        change = _change(command, person)
        if change is None:
            return Outcome(
                "Assign to me needs your Slack account linked to a Tocsin user: add your Slack "
                "id as a slack contact method, or use the same email in both.",
                done=False,
            )
        result = await rt.commands.change(incident.workflow_id, incident.id, change)
    except IncidentClosed:
        return _already_resolved(incident)
    except CommandRejected as err:
        if err.code == "INVALID_TRANSITION":
            return _already_resolved(incident)
        return Outcome(f"Could not {command.verb} {incident.id}: {err.message}", done=False)
    status = result.incident.status.value.lower() if result.incident else "updated"
    return Outcome(f"{incident.id} is {status}.")


def _change(command: SlashCommand, person: SlackPerson) -> ChangeIn | None:
    change = ChangeIn(actor=person.actor)
    if command.verb == "acknowledge":
        change.status = Status.ACKNOWLEDGED
    elif command.verb == "resolve":
        change.status = Status.RESOLVED
    elif command.verb == "snooze":
        change.status = Status.SNOOZED
        change.snoozed_until = datetime.now(UTC) + parse_duration(command.argument)
    else:  # assign
        if person.user_id is None:
            return None
        change.assignee_id, change.assignee_set = person.user_id, True
    return change


def _already_resolved(incident: Incident) -> Outcome:
    return Outcome(f"{incident.id} ({incident.title}) is already resolved.", done=False)


async def _who(service_ref: str) -> Outcome:
    async with session_scope(runtime().engine) as session:
        service = (
            await session.exec(
                select(Service)
                .where(
                    or_(
                        col(Service.id) == service_ref,
                        func.lower(col(Service.name)) == service_ref.lower(),
                    ),
                    col(Service.deleted_at).is_(None),
                )
                .order_by(col(Service.created_at))
            )
        ).first()
        if service is None:
            return Outcome(f"No service {service_ref}.", done=False)
        users = await on_call_users(session, service.id)
    if not users:
        return Outcome(f"Nobody is paged first for {service.name}.")
    people = ", ".join(f"{u.name} ({u.email})" for u in users)
    return Outcome(f"Paged first for {service.name}: {people}")
