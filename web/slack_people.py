"""Who clicked or typed in Slack, as a Tocsin actor.

A Slack user is a Tocsin user through a ``slack`` contact method with their Slack id, else
through the email on their Slack profile (``users.info``, scope users:read.email). Anyone
else still acts, as ``slack:<username>``: paging must never stall because a responder's
accounts are not linked yet.
"""

import logging
from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from models import User
from models.db import session_scope
from models.notifications import ContactMethod

log = logging.getLogger("tocsin.slack")


@dataclass(frozen=True)
class SlackPerson:
    slack_id: str
    username: str
    user_id: str | None  # the Tocsin user, when known

    @property
    def actor(self) -> str:
        # The same ``kind:id`` shape as API keys' actors (web/auth.py Principal.actor).
        return f"user:{self.user_id}" if self.user_id else f"slack:{self.username}"


async def slack_person(
    engine: AsyncEngine, client: AsyncWebClient | None, slack_id: str, username: str
) -> SlackPerson:
    async with session_scope(engine) as session:
        linked = (
            await session.exec(
                select(ContactMethod.user_id).where(
                    ContactMethod.type == "slack", ContactMethod.address == slack_id
                )
            )
        ).first()
        if linked is not None:
            return SlackPerson(slack_id, username, linked)
    email = await _profile_email(client, slack_id)
    if email is not None:
        async with session_scope(engine) as session:
            user = (await session.exec(select(User.id).where(User.email == email))).first()
        if user is not None:
            return SlackPerson(slack_id, username, user)
    return SlackPerson(slack_id, username, None)


async def _profile_email(client: AsyncWebClient | None, slack_id: str) -> str | None:
    if client is None or not slack_id:
        return None
    try:
        response = await client.users_info(user=slack_id)
    except Exception as err:  # unknown to Slack, no scope, Slack down: act as slack:<name>
        log.info("users.info for %s failed: %s", slack_id, err)
        return None
    email = (response.get("user") or {}).get("profile", {}).get("email")
    return str(email).lower() if email else None
