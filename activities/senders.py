"""The channel senders a worker delivers with, built from settings (one per channel)."""

from sqlalchemy.ext.asyncio import AsyncEngine

from activities.deliveries import Sender
from activities.slack import SlackSender
from tocsin.settings import Settings
from workflows.notifications import Channel


def build_senders(settings: Settings, engine: AsyncEngine) -> dict[Channel, Sender]:
    return {Channel.SLACK: SlackSender(settings)}
