"""The channel senders a worker delivers with, built from settings (one per channel)."""

from collections.abc import Mapping

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.deliveries import Sender
from activities.email import EmailSender
from activities.slack import SlackSender
from activities.webhook import WebhookSender
from tocsin.settings import Settings
from workflows.notifications import Channel


def build_senders(
    settings: Settings, engine: AsyncEngine, slack: AsyncWebClient | None = None
) -> dict[Channel, Sender]:
    """``slack``: the process's Slack client (one connection pool), else a new one."""
    senders: list[Sender] = [
        SlackSender(settings, slack),
        WebhookSender(settings),
        EmailSender(settings),
    ]
    return {sender.channel: sender for sender in senders}


async def close_senders(senders: Mapping[Channel, Sender]) -> None:
    """Release what senders hold open (their own connection pools)."""
    for sender in senders.values():
        close = getattr(sender, "close", None)
        if close is not None:
            await close()
