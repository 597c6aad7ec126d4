"""Email over SMTP (docs/email.md).

One connection per send: pages are rare and a long-lived SMTP session would need keep-alive
and reconnect logic for little gain. SMTP cannot be asked whether an earlier attempt was
accepted, so a retry after a crash sends again with the same Message-ID. A 4xx reply or a
broken connection is worth retrying; a 5xx reply (no such user, relay denied, bad login) is
final.
"""

from datetime import datetime
from email.message import EmailMessage

import aiosmtplib

from activities.deliveries import DeliveryFailed, Sent
from activities.email_message import compose
from tocsin.settings import Settings
from workflows.notifications import Channel, Delivery

TIMEOUT_SECONDS = 15.0


class EmailSender:
    channel = Channel.EMAIL

    def __init__(self, settings: Settings, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self._settings = settings
        self._timeout = timeout

    def unavailable(self) -> str | None:
        if not self._settings.smtp_host:
            return "email is not configured (TOCSIN_SMTP_HOST)"
        return None

    async def find_sent(self, delivery: Delivery, since: datetime) -> Sent | None:
        return None  # SMTP has no way to ask; the resend carries the same Message-ID

    async def send(self, delivery: Delivery) -> Sent:
        s = self._settings
        message = compose(delivery, s.smtp_from, s.public_url)
        await send_message(s, message, self._timeout)
        return Sent(external_id=message["Message-ID"], data={"message_id": message["Message-ID"]})


async def send_message(settings: Settings, message: EmailMessage, timeout_seconds: float) -> None:
    """Send one composed message over a fresh SMTP connection (incident emails and handoff
    notices alike); raise DeliveryFailed, retryable unless the server's answer is final."""
    s = settings
    password = s.smtp_password.get_secret_value() if s.smtp_password else None
    try:
        await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username or None,
            password=password if s.smtp_username else None,
            start_tls=s.smtp_starttls,
            timeout=timeout_seconds,
        )
    except aiosmtplib.SMTPRecipientsRefused as err:
        refused = err.recipients[0] if err.recipients else None
        code = refused.code if refused else 550
        raise _refused(code, refused.message if refused else str(err)) from err
    except aiosmtplib.SMTPResponseException as err:
        raise _refused(err.code, err.message) from err
    except aiosmtplib.SMTPNotSupported as err:  # e.g. STARTTLS required but not offered
        raise DeliveryFailed(f"SMTP server: {err}", retryable=False) from err
    except (aiosmtplib.SMTPException, OSError) as err:  # connect, timeout, disconnect
        raise DeliveryFailed(f"SMTP connection failed: {err!r}") from err


def _refused(code: int, text: str) -> DeliveryFailed:
    return DeliveryFailed(
        f"SMTP server answered {code} {text}".strip(),
        retryable=not 500 <= code < 600,
        data={"smtp_code": code},
    )
