"""Generation and hashing of secrets handed to clients (integration keys, API keys).

Keys are long random strings, so a single SHA-256 is enough to make the stored value useless
to a thief while keeping lookup a fast indexed equality match.
"""

import hashlib
import secrets


def new_integration_key() -> str:
    """A 32-character hexadecimal key, the format seed 001 documents."""
    return secrets.token_hex(16)


def new_api_key() -> str:
    return "tk_" + secrets.token_urlsafe(30)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"
