"""Email through the real ``deliver`` activity on the real Temporal server, to a real SMTP
server (aiosmtpd): what the mail says, how refusals and missing configuration are recorded."""

from collections.abc import AsyncIterator
from email.message import EmailMessage

import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from activities.email_message import message_id
from tests.delivery_harness import Deliver, attempts, delivery_worker, make_delivery, notification
from tests.fakes.mail_fixtures import MailServer
from tocsin.settings import Settings
from workflows.notifications import Channel, EventType


@pytest_asyncio.fixture(scope="module")
async def deliver(
    client: Client, engine: AsyncEngine, settings: Settings
) -> AsyncIterator[Deliver]:
    async with delivery_worker(client, engine, settings) as run:
        yield run


def parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


async def test_a_page_arrives_with_both_parts_and_a_stable_message_id(
    deliver: Deliver, smtp_server: MailServer, engine: AsyncEngine
) -> None:
    address = "oncall-1@example.test"
    delivery = make_delivery(
        Channel.EMAIL, address, custom_details={"host": "web-1", "load": [9.5, 8.1]}
    )

    result = await deliver(delivery)

    assert result.status == "sent"
    [mail] = smtp_server.to(address)
    assert mail["To"] == address
    assert mail["From"] == "Tocsin <tocsin@localhost>"
    assert mail["Subject"] == "[Tocsin] [HIGH] CPU above 90% — triggered"
    assert mail["Message-ID"] == message_id(delivery.key)
    assert mail["Message-ID"].endswith("@tocsin>") and len(mail["Message-ID"]) == 32 + 9
    assert mail["X-Tocsin-Delivery"] == delivery.key
    assert mail["X-Tocsin-Incident"] == delivery.event.incident.id
    text, html = parts(mail)
    link = f"http://127.0.0.1:8080/incidents/{delivery.event.incident.id}"
    for part in (text, html):
        for expected in ("OPEN", "HIGH", "API Gateway", "prometheus", "web-1", link):
            assert expected in part
    assert "load: [9.5, 8.1]" in text
    row = await notification(engine, delivery.key)
    assert (row.status, row.external_id) == ("sent", message_id(delivery.key))


async def test_html_is_escaped_and_the_subject_names_the_event(
    deliver: Deliver, smtp_server: MailServer
) -> None:
    address = "oncall-2@example.test"
    title = '<script>alert("x")</script>\r\nBcc: victim@example.test'
    delivery = make_delivery(
        Channel.EMAIL,
        address,
        title=title,
        event_type=EventType.ACKNOWLEDGED,
        custom_details={"<b>": "<img src=x onerror=alert(1)>"},
    )

    assert (await deliver(delivery)).status == "sent"

    [mail] = smtp_server.to(address)
    assert mail["Subject"].endswith(" — acknowledged")
    assert "\n" not in mail["Subject"] and mail["Bcc"] is None, "no header injection"
    _, html = parts(mail)
    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


async def test_an_unknown_mailbox_is_a_final_failure(
    deliver: Deliver, smtp_server: MailServer, engine: AsyncEngine
) -> None:
    address = "nobody@example.test"
    smtp_server.refuse[address] = "550 5.1.1 No such user"
    delivery = make_delivery(Channel.EMAIL, address, max_attempts=4)

    result = await deliver(delivery)

    assert result.status == "failed"
    assert "550" in (result.detail or "")
    [attempt] = await attempts(engine, delivery.key)  # not retried
    assert not attempt.ok and attempt.data == {"smtp_code": 550}
    assert smtp_server.to(address) == []


async def test_a_temporary_refusal_is_retried(
    deliver: Deliver, smtp_server: MailServer, engine: AsyncEngine
) -> None:
    address = "busy@example.test"
    smtp_server.refuse[address] = "451 4.3.0 Try again later"
    delivery = make_delivery(Channel.EMAIL, address, max_attempts=2)

    result = await deliver(delivery)

    assert result.status == "failed"
    assert [a.data for a in await attempts(engine, delivery.key)] == [{"smtp_code": 451}] * 2


async def test_skipped_when_smtp_is_not_configured(
    client: Client, engine: AsyncEngine, settings: Settings, smtp_server: MailServer
) -> None:
    address = "oncall-3@example.test"
    delivery = make_delivery(Channel.EMAIL, address)
    async with delivery_worker(
        client, engine, settings.model_copy(update={"smtp_host": None})
    ) as run:
        result = await run(delivery)
    assert result.status == "skipped"
    assert result.detail == "email is not configured (TOCSIN_SMTP_HOST)"
    row = await notification(engine, delivery.key)
    assert (row.status, row.attempts) == ("skipped", 0)
    assert smtp_server.to(address) == []
