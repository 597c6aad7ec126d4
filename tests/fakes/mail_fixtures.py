"""A real SMTP server (aiosmtpd) on a free port, keeping every message it accepts.

Tests send to addresses of their own, so they read only their own mail; an address listed in
``refuse`` gets that reply to RCPT TO instead (e.g. ``550 5.1.1 No such user``).
"""

from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller

from tests.app_server import free_port


class MailServer:
    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.refuse: dict[str, str] = {}
        self._messages: list[tuple[list[str], EmailMessage]] = []

    def to(self, address: str) -> list[EmailMessage]:
        return [message for rcpt, message in self._messages if address in rcpt]

    # aiosmtpd handler hooks; they run in the controller's thread.
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.content)
        self._messages.append((list(envelope.rcpt_tos), cast(EmailMessage, parsed)))
        return "250 Message accepted for delivery"


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[MailServer]:
    server = MailServer()
    server.port = free_port()
    controller = Controller(server, hostname=server.host, port=server.port)
    controller.start()
    yield server
    controller.stop()
