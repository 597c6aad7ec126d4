"""Text PostgreSQL can store: no NUL characters, no unpaired UTF-16 surrogates.

JSON may encode both (``"\\u0000"``, ``"\\ud800"``); rejecting them at the edge turns what
would be a database error into a clear 400.
"""

from typing import Any


def storable(value: Any) -> bool:
    """True if every string in ``value`` (a decoded JSON document or a str) is storable."""
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(storable(k) and storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(storable(v) for v in value)
    return True
