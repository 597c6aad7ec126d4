"""Typed reads from a sender's decoded JSON that collect every error with its field path.

Adapters read a whole body before producing anything, so a payload with one bad alert among
good ones is refused as a whole, naming each problem ("alerts[2].labels: must be an
object") rather than only the first.
"""

from collections.abc import Mapping
from typing import Any

from web.integrations.event import InvalidPayload

# Enough to fix a payload by; a 512 KB body of bad alerts must not make a 512 KB answer.
MAX_REPORTED = 10


def at(path: str, key: str | int) -> str:
    """``alerts`` + 2 → ``alerts[2]``; ``alerts[2]`` + ``labels`` → ``alerts[2].labels``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def scalar_text(value: Any) -> str:
    """A field senders fill with text or, for ids, sometimes a bare number; "" otherwise."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def is_web_url(value: str | None) -> bool:
    """Only http(s) addresses become links: anything else (``javascript:``) is kept as data."""
    return value is not None and value.lower().startswith(("https://", "http://"))


def web_url(value: Any) -> str | None:
    """``value`` if it is an http(s) address, else None."""
    return value if isinstance(value, str) and is_web_url(value) else None


class Fields:
    """Reads typed values out of JSON objects; a wrong type is recorded and a neutral value
    returned, so reading goes on and every error is reported at once by ``check``."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def check(self) -> None:
        if not self.errors:
            return
        shown = self.errors[:MAX_REPORTED]
        if len(self.errors) > MAX_REPORTED:
            shown.append(f"and {len(self.errors) - MAX_REPORTED} more errors")
        raise InvalidPayload(shown)

    def obj(self, value: Any, path: str) -> dict[str, Any] | None:
        """``value`` itself as an object (None and an error if it is not one)."""
        if isinstance(value, dict):
            return value
        self.fail(path or "body", "must be an object")
        return None

    def text(self, parent: Mapping[str, Any], key: str, path: str) -> str | None:
        """An optional string: absent or null is None."""
        value = parent.get(key)
        if value is None or isinstance(value, str):
            return value
        self.fail(at(path, key), "must be a string")
        return None

    def integer(self, parent: Mapping[str, Any], key: str, path: str) -> int | None:
        value = parent.get(key)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        self.fail(at(path, key), "must be an integer")
        return None

    def mapping(self, parent: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
        """An optional object: absent or null is empty."""
        value = parent.get(key)
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
        self.fail(at(path, key), "must be an object")
        return {}

    def strings(self, parent: Mapping[str, Any], key: str, path: str) -> dict[str, str]:
        """An optional object of strings (labels, annotations)."""
        value = self.mapping(parent, key, path)
        for name, item in value.items():
            if not isinstance(item, str):
                self.fail(at(at(path, key), name), "must be a string")
        return {name: item for name, item in value.items() if isinstance(item, str)}

    def items(self, parent: Mapping[str, Any], key: str, path: str) -> list[Any] | None:
        """A required list (None and an error if absent or not a list)."""
        value = parent.get(key)
        if isinstance(value, list):
            return value
        self.fail(at(path, key), "required" if value is None else "must be a list")
        return None
