"""Amazon SNS HTTP(S) deliveries: every message's signature is verified, subscriptions are
confirmed, and only verified notifications go on to an adapter.

SNS signs a canonical string built from the message's fields (AWS, "Verifying the
signatures of Amazon SNS messages") with the key of an X.509 certificate it publishes at
``SigningCertURL``: RSA with SHA1 for SignatureVersion 1, SHA256 for 2. Certificates and
``SubscribeURL``s are fetched only over https from hosts matching
``settings.sns_host_pattern``, so a forged message cannot make us trust a key of its own or
request a URL of its choosing. Certificates are cached in memory by URL (SNS rotates them
rarely, and a new one has a new URL). A signed message stays valid forever, so one whose
``Timestamp`` is further than ``settings.sns_max_age_seconds`` from now is refused: a
captured message cannot be replayed later.
"""

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tocsin.settings import Settings
from web.errors import ApiError

# The fields SNS signs, in this order, as "Name\nvalue\n"; Subject only when present.
_CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn")
SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (*_CONFIRMATION_FIELDS, "Type"),
    "UnsubscribeConfirmation": (*_CONFIRMATION_FIELDS, "Type"),
}
OPTIONAL_FIELDS = {"Subject"}
HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}

MAX_FETCH_BYTES = 64 * 1024
FETCH_TIMEOUT_SECONDS = 5.0
MAX_CACHED_CERTIFICATES = 64

_certificates: dict[str, rsa.RSAPublicKey] = {}


def _invalid_signature(reason: str) -> ApiError:
    return ApiError(401, "INVALID_SIGNATURE", f"SNS message signature: {reason}")


def _invalid_payload(reason: str) -> ApiError:
    return ApiError(400, "INVALID_PAYLOAD", f"Invalid payload: not an SNS message: {reason}")


async def receive(
    headers: Mapping[str, str], body: Any, settings: Settings
) -> dict[str, Any] | None:
    """The verified Notification, or None when the message carries nothing to ingest
    (a subscription confirmation, which is confirmed here, or an unsubscribe notice)."""
    message = checked_message(headers, body)
    check_age(message, settings, datetime.now(UTC))
    await verify(message, settings)
    if message["Type"] == "SubscriptionConfirmation":
        await confirm_subscription(message, settings)
        return None
    if message["Type"] == "UnsubscribeConfirmation":
        return None
    return message


def checked_message(headers: Mapping[str, str], body: Any) -> dict[str, Any]:
    """``body`` if it has an SNS message's shape (400 otherwise)."""
    if not isinstance(body, dict):
        raise _invalid_payload("the body must be a JSON object")
    kind = body.get("Type")
    if not isinstance(kind, str) or kind not in SIGNED_FIELDS:
        raise _invalid_payload(f"Type must be one of {', '.join(SIGNED_FIELDS)}")
    header = headers.get("x-amz-sns-message-type")
    if header is not None and header != kind:
        raise _invalid_payload("the x-amz-sns-message-type header does not match Type")
    for field in SIGNED_FIELDS[kind]:
        value = body.get(field)
        if value is None and field in OPTIONAL_FIELDS:
            continue
        if not isinstance(value, str):
            raise _invalid_payload(f"{field} is required (a string)")
    return body


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The canonical string SNS signs for ``message`` (already shape-checked)."""
    parts = []
    for field in SIGNED_FIELDS[message["Type"]]:
        value = message.get(field)
        if value is not None:
            parts.append(f"{field}\n{value}\n")
    return "".join(parts).encode()


def allowed_url(url: Any, settings: Settings) -> bool:
    """An https URL (http too when ``sns_allow_http``) on a host matching
    ``sns_host_pattern``: the only URLs a message may make us fetch."""
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    schemes = {"https", "http"} if settings.sns_allow_http else {"https"}
    if parts.scheme not in schemes or not host or parts.username or parts.password:
        return False
    return re.fullmatch(settings.sns_host_pattern, host) is not None


def check_age(message: Mapping[str, Any], settings: Settings, now: datetime) -> None:
    """Raise 401 unless the message's ``Timestamp`` is within the allowed age of ``now``
    (either way: a clock that runs ahead is no excuse for a timestamp in the future)."""
    try:
        sent = datetime.fromisoformat(message["Timestamp"])
    except ValueError as err:
        raise _invalid_payload("Timestamp is not an ISO 8601 time") from err
    if sent.tzinfo is None:
        raise _invalid_payload("Timestamp has no time zone")
    if abs((now - sent).total_seconds()) > settings.sns_max_age_seconds:
        raise _invalid_signature(
            f"the message's Timestamp is more than {settings.sns_max_age_seconds:.0f} s "
            "from now (a replayed message?)"
        )


async def verify(message: Mapping[str, Any], settings: Settings) -> None:
    """Raise 401 INVALID_SIGNATURE unless SNS signed ``message``."""
    algorithm = HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise _invalid_signature("SignatureVersion must be 1 or 2")
    cert_url = message.get("SigningCertURL")
    if not allowed_url(cert_url, settings):
        raise _invalid_signature("SigningCertURL is not an Amazon SNS certificate URL")
    assert isinstance(cert_url, str)
    try:
        signature = base64.b64decode(str(message.get("Signature") or ""), validate=True)
    except (binascii.Error, ValueError) as err:
        raise _invalid_signature("Signature is not base64") from err
    if not signature:
        raise _invalid_signature("Signature is missing")
    key = await _public_key(cert_url)
    try:
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm())
    except InvalidSignature as err:
        raise _invalid_signature("does not match the message") from err


async def confirm_subscription(message: Mapping[str, Any], settings: Settings) -> None:
    """GET the SubscribeURL, which is what confirming an SNS subscription is."""
    url = message.get("SubscribeURL")
    if not allowed_url(url, settings):
        raise _invalid_payload("SubscribeURL is not an Amazon SNS URL")
    assert isinstance(url, str)
    await _fetch(url, "confirm the subscription")


async def _public_key(url: str) -> rsa.RSAPublicKey:
    key = _certificates.get(url)
    if key is not None:
        return key
    pem = await _fetch(url, "fetch the signing certificate")
    try:
        public_key = x509.load_pem_x509_certificate(pem).public_key()
    except ValueError as err:
        raise _invalid_signature("SigningCertURL does not serve a PEM certificate") from err
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise _invalid_signature("the signing certificate's key is not RSA")
    if len(_certificates) >= MAX_CACHED_CERTIFICATES:
        _certificates.clear()
    _certificates[url] = public_key
    return public_key


async def _fetch(url: str, purpose: str) -> bytes:
    """GET ``url`` (no redirects: they could lead off the allowed hosts). SNS unreachable is
    a 503, so SNS delivers the message again later."""
    unavailable = ApiError(503, "SNS_UNAVAILABLE", f"Could not {purpose} from Amazon SNS")
    try:
        async with (
            httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise unavailable
            data = b""
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MAX_FETCH_BYTES:
                    raise unavailable
            return data
    except httpx.HTTPError as err:
        raise unavailable from err
