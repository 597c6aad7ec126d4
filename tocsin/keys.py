"""Generation and hashing of secrets handed to clients (integration keys, API keys).

Keys are long random strings, so a single fast hash is enough to make the stored value
useless to a thief while keeping lookup a fast indexed equality match. API keys, which can
administer everything, get a keyed hash (HMAC-SHA256 under a key derived from
``TOCSIN_WEBHOOK_SIGNING_KEY``, like tocsin/secret_box.py): the database alone then neither
confirms a leaked key nor lets someone who can write to it plant a key of their own.
"""

import base64
import hashlib
import hmac
import secrets

from tocsin.settings import Settings

_API_KEY_LABEL = b"tocsin-api-key-hash:v1"
# Marks a keyed hash; a stored hash without it is the unkeyed SHA-256 (hex) of older keys.
KEYED_PREFIX = "k1$"


def new_integration_key() -> str:
    """A 32-character hexadecimal key, the format seed 001 documents."""
    return secrets.token_hex(16)


def new_api_key() -> str:
    return "tk_" + secrets.token_urlsafe(30)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


class ApiKeyHasher:
    """How API keys are stored and found. Without a configured key it stores the unkeyed
    SHA-256; with one, a keyed hash, while still finding keys stored the unkeyed way (the
    caller replaces such a hash on use: ``outdated``)."""

    def __init__(self, secret: str | None) -> None:
        self._key = (
            hmac.new(secret.encode(), _API_KEY_LABEL, hashlib.sha256).digest() if secret else None
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> "ApiKeyHasher":
        key = settings.webhook_signing_key
        return cls(key.get_secret_value() if key is not None else None)

    def stored(self, key: str) -> str:
        """What to store for ``key`` (46 characters keyed, 64 unkeyed)."""
        if self._key is None:
            return hash_key(key)
        digest = hmac.new(self._key, key.encode(), hashlib.sha256).digest()
        return KEYED_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def candidates(self, key: str) -> list[str]:
        """Every stored form that is ``key``: the current one first."""
        return list(dict.fromkeys((self.stored(key), hash_key(key))))

    def outdated(self, stored: str) -> bool:
        return self._key is not None and not stored.startswith(KEYED_PREFIX)
