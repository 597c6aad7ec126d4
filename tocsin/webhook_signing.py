"""Webhook signatures: per-target secrets derived from one key, so none is ever stored.

``secret = hex(HMAC-SHA256(TOCSIN_WEBHOOK_SIGNING_KEY, "tocsin-webhook:" + owner))`` where the
owner is ``service:<id>`` (a service's webhook) or ``user:<id>`` (a person's webhook contact
method). Rotating the key rotates every secret at once. Each request carries
``X-Tocsin-Signature: v1=<hex HMAC-SHA256(secret, raw body)>`` (docs/webhooks.md).
"""

import hashlib
import hmac

SIGNATURE_HEADER = "X-Tocsin-Signature"
EVENT_HEADER = "X-Tocsin-Event"
DELIVERY_HEADER = "X-Tocsin-Delivery"
TIMESTAMP_HEADER = "X-Tocsin-Timestamp"
USER_AGENT = "Tocsin-Webhook/1"
VERSION = "v1"


def service_owner(service_id: str) -> str:
    return f"service:{service_id}"


def user_owner(user_id: str) -> str:
    return f"user:{user_id}"


def derive_secret(signing_key: str, owner: str) -> str:
    """The secret one receiver verifies with; the same for the same key and owner."""
    message = f"tocsin-webhook:{owner}".encode()
    return hmac.new(signing_key.encode(), message, hashlib.sha256).hexdigest()


def signature(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` (the X-Tocsin-Signature value) signs ``body``; constant-time.

    The header may list several comma-separated signatures (room for a future key
    rotation); one match is enough.
    """
    if not header:
        return False
    expected = signature(secret, body)
    return any(
        hmac.compare_digest(expected.encode(), candidate.strip().encode())
        for candidate in header.split(",")
    )
