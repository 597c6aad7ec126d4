"""Outgoing webhooks: a signed JSON POST per delivery (docs/webhooks.md).

A webhook cannot be asked whether an earlier attempt arrived, so ``find_sent`` knows nothing
and a retry after a crash posts again with the same ``X-Tocsin-Delivery``; receivers dedup on
it. Retryable answers (408, 425, 429, 5xx, timeouts, refused connections) go back to the
activity's retry policy; any other non-2xx answer is final, since the receiver told us no.

Every request is bounded (docs/security.md): only public addresses unless the operator
allows private ones (activities/outbound_http.py), no redirect followed (a 3xx is a final
refusal), at most ``BODY_EXCERPT_CHARS`` of the answer read, ``TIMEOUT_SECONDS`` in all.
"""

import time
from datetime import datetime
from urllib.parse import urlsplit

import aiohttp

from activities.deliveries import DeliveryFailed, Sent
from activities.outbound_http import forbidden, guarded_session, target_refusal
from activities.webhook_payload import webhook_body
from tocsin import webhook_signing as signing
from tocsin.settings import Settings
from workflows.notifications import Channel, Delivery, Purpose

TIMEOUT_SECONDS = 10.0
RETRYABLE_STATUSES = frozenset({408, 425, 429})
# How much of a refusing receiver's answer is kept with the attempt, for whoever debugs it.
BODY_EXCERPT_CHARS = 300


class WebhookSender:
    channel = Channel.WEBHOOK

    def __init__(self, settings: Settings, *, timeout: float = TIMEOUT_SECONDS) -> None:
        key = settings.webhook_signing_key
        self._signing_key = key.get_secret_value() if key is not None else None
        self._public_url = settings.public_url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._allow_private = settings.webhook_allow_private_targets
        self._session: aiohttp.ClientSession | None = None

    def unavailable(self) -> str | None:
        if not self._signing_key:
            return "webhooks are not configured (TOCSIN_WEBHOOK_SIGNING_KEY)"
        return None

    async def find_sent(self, delivery: Delivery, since: datetime) -> Sent | None:
        return None  # receivers dedup on X-Tocsin-Delivery instead

    async def send(self, delivery: Delivery) -> Sent:
        url = delivery.address
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DeliveryFailed(f"not an http(s) URL: {url[:200]}", retryable=False)
        refusal = target_refusal(parts.hostname, self._allow_private)
        if refusal is not None:
            raise DeliveryFailed(f"refused target: {refusal}", retryable=False)
        if not self._signing_key:  # deliver() asks unavailable() first; never sign with ""
            raise DeliveryFailed(self.unavailable() or "no signing key", retryable=False)
        body = webhook_body(delivery, self._public_url)
        secret = signing.derive_secret(self._signing_key, owner(delivery))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": signing.USER_AGENT,
            signing.SIGNATURE_HEADER: signing.signature(secret, body),
            signing.EVENT_HEADER: delivery.event.type.value,
            signing.DELIVERY_HEADER: delivery.key,
            signing.TIMESTAMP_HEADER: str(int(time.time())),
        }
        try:
            async with self._client().post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                excerpt = "" if status < 300 else await _excerpt(response)
                retry_after = response.headers.get("Retry-After")
        except TimeoutError as err:
            raise DeliveryFailed(f"no answer within {self._timeout.total:.0f}s") from err
        except aiohttp.ClientError as err:
            refused = forbidden(err)
            if refused is not None:  # what a name resolves to rarely changes: final
                raise DeliveryFailed(f"refused target: {refused}", retryable=False) from err
            raise DeliveryFailed(f"connection failed: {err!r}") from err
        if 200 <= status < 300:
            return Sent(external_id=f"HTTP {status}", data={"status": status})
        data: dict[str, object] = {"status": status, "body": excerpt}
        if retry_after is not None:
            data["retry_after"] = retry_after
        raise DeliveryFailed(
            f"receiver answered HTTP {status}",
            retryable=status in RETRYABLE_STATUSES or status >= 500,
            data=data,
        )

    def _client(self) -> aiohttp.ClientSession:
        # One session per worker process: connections to a receiver are pooled and reused.
        if self._session is None or self._session.closed:
            self._session = guarded_session(
                allow_private=self._allow_private, timeout=self._timeout
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def owner(delivery: Delivery) -> str:
    """Whose secret signs it: the person's for their own webhook, else the service's."""
    if delivery.purpose == Purpose.PAGE and delivery.recipient is not None:
        return signing.user_owner(delivery.recipient.user_id)
    return signing.service_owner(delivery.event.incident.service_id)


async def _excerpt(response: aiohttp.ClientResponse) -> str:
    try:
        raw = await response.content.read(BODY_EXCERPT_CHARS * 4)
    except (aiohttp.ClientError, TimeoutError):
        return ""
    return raw.decode("utf-8", "replace")[:BODY_EXCERPT_CHARS]
