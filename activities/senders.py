"""The channel senders a worker delivers with, built from settings (one per channel)."""

from activities.deliveries import Sender
from tocsin.settings import Settings
from workflows.notifications import Channel


def build_senders(settings: Settings) -> dict[Channel, Sender]:
    return {}
