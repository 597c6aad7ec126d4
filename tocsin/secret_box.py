"""Secrets Tocsin must read back (a sender's signing secret) are sealed before storage.

The sealing key is derived from ``TOCSIN_WEBHOOK_SIGNING_KEY`` (HMAC-SHA256 with a fixed
label), so the database alone never reveals a secret. Fernet gives authenticated
encryption: a token sealed under another key fails to open instead of yielding garbage.
"""

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken

from tocsin.settings import Settings

_LABEL = b"tocsin-secret-box:v1"


class SecretBoxUnavailable(Exception):
    """No key is configured, so secrets can neither be sealed nor opened."""


def _fernet(settings: Settings) -> Fernet:
    if settings.webhook_signing_key is None:
        raise SecretBoxUnavailable("TOCSIN_WEBHOOK_SIGNING_KEY is not set")
    key = settings.webhook_signing_key.get_secret_value().encode()
    derived = hmac.new(key, _LABEL, hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(settings: Settings, secret: str) -> str:
    return _fernet(settings).encrypt(secret.encode()).decode()


def unseal(settings: Settings, token: str) -> str:
    """The secret; raises SecretBoxUnavailable when the key is missing or has changed."""
    try:
        return _fernet(settings).decrypt(token.encode()).decode()
    except InvalidToken as err:
        raise SecretBoxUnavailable("the sealing key changed since this secret was stored") from err
