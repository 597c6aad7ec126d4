"""Any JSON webhook, mapped by JSONPath expressions set on the integration.

For tools with no adapter of their own: the integration's options say where in the body
the dedup key, summary, severity, action and source are (``jsonpath-ng`` with its
extensions, so filters such as ``$.tags[?(@.k == 'sev')].v`` work). With ``alerts`` a body
carries several alerts and the other paths are read relative to each. Paths are compiled
when the options are set, so a typo is refused then, not at 3 a.m.

Signatures: the hex HMAC-SHA256 of the raw body in ``X-Signature`` (``sha256=`` prefix
optional), as most webhook senders sign.
"""

import hashlib
import hmac
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jsonpath_ng import JSONPath
from jsonpath_ng.ext import parse as parse_path
from pydantic import Field, field_validator

from web.integrations.config import AdapterConfig
from web.integrations.event import (
    MAX_DEDUP_KEY,
    Action,
    InboundEvent,
    InvalidPayload,
    alert_event,
    clip,
    stable_key,
)
from web.integrations.json_fields import MAX_REPORTED
from web.integrations.severity import severity_from

DEFAULT_ACTIONS: dict[str, Action] = {
    **dict.fromkeys(["trigger", "firing", "alert", "problem", "triggered"], "trigger"),
    **dict.fromkeys(["acknowledge", "ack", "acknowledged"], "acknowledge"),
    **dict.fromkeys(["resolve", "resolved", "ok", "recovered", "closed"], "resolve"),
}
DEFAULT_SIGNATURE_HEADER = "X-Signature"
DEFAULT_SOURCE = "generic"
MAX_PATH = 500
MAX_SOURCE = 255


@lru_cache(maxsize=512)
def compiled(path: str) -> JSONPath:
    return parse_path(path)


def _valid_path(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        compiled(value)
    except Exception as err:  # jsonpath-ng raises several types for a bad expression
        raise ValueError(f"not a valid JSONPath expression ({err})") from err
    return value


class Config(AdapterConfig):
    """Where the fields are (JSONPath), how action words map, and the signature header."""

    dedup_key: str = Field(max_length=MAX_PATH)
    summary: str | None = Field(default=None, max_length=MAX_PATH)
    severity: str | None = Field(default=None, max_length=MAX_PATH)
    action: str | None = Field(default=None, max_length=MAX_PATH)
    source: str | None = Field(default=None, max_length=MAX_PATH)
    alerts: str | None = Field(default=None, max_length=MAX_PATH)
    # Added to (and overriding) DEFAULT_ACTIONS; words match in any case.
    action_map: dict[str, Action] = Field(default_factory=dict)
    default_action: Action = "trigger"
    signature_header: str = Field(
        default=DEFAULT_SIGNATURE_HEADER, min_length=1, max_length=100, pattern=r"^[!-9;-~]+$"
    )

    @field_validator("dedup_key", "summary", "severity", "action", "source", "alerts")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return _valid_path(value)

    @field_validator("action_map")
    @classmethod
    def _lower_words(cls, value: dict[str, Action]) -> dict[str, Action]:
        return {word.strip().lower(): action for word, action in value.items()}


def parse(body: Any, config: Config) -> list[InboundEvent]:
    items = [body] if config.alerts is None else _alerts(body, config.alerts)
    errors: list[str] = []
    events: list[InboundEvent] = []
    for index, item in enumerate(items):
        where = "" if config.alerts is None else f"alerts[{index}]: "
        try:
            events.append(_event(item, config))
        except InvalidPayload as err:
            errors.extend(where + error for error in err.errors)
    if errors:
        raise InvalidPayload(errors[:MAX_REPORTED])
    return events


def _alerts(body: Any, path: str) -> list[Any]:
    found = _find(body, path, "alerts")
    if not found:
        raise InvalidPayload([f"alerts: {path} matched nothing"])
    # One match that is a list (``$.alerts``) or one match per alert (``$.alerts[*]``).
    if len(found) == 1 and isinstance(found[0], list):
        return found[0]
    return found


def _find(item: Any, path: str, option: str) -> list[Any]:
    try:
        return [match.value for match in compiled(path).find(item)]
    except Exception as err:  # a filter comparing mismatched types, arithmetic on text
        raise InvalidPayload([f"{option}: {path} could not be evaluated"]) from err


def _first(item: Any, path: str | None, option: str) -> Any:
    if path is None:
        return None
    found = _find(item, path, option)
    return found[0] if found else None


def _scalar_text(value: Any) -> str | None:
    """Strings as they are, numbers in their JSON spelling; anything else is not text."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return json.dumps(value)
    return None


def _event(item: Any, config: Config) -> InboundEvent:
    raw_key = _first(item, config.dedup_key, "dedupKey")
    key = _scalar_text(raw_key)
    if not key or not key.strip():
        problem = "found nothing" if raw_key is None else "must be a non-empty string or number"
        raise InvalidPayload([f"dedupKey ({config.dedup_key}): {problem}"])
    dedup_key = key if len(key) <= MAX_DEDUP_KEY else stable_key(key)
    action = _action(_first(item, config.action, "action"), config)
    raw_summary = _first(item, config.summary, "summary")
    summary = clip(_scalar_text(raw_summary) or _dumped(raw_summary) or f"Alert {dedup_key}")
    severity = severity_from(_scalar_text(_first(item, config.severity, "severity")))
    source = clip(_scalar_text(_first(item, config.source, "source")) or DEFAULT_SOURCE, MAX_SOURCE)
    details = item if isinstance(item, dict) else {"body": item}
    return alert_event(
        action, dedup_key, summary=summary, source=source, severity=severity, details=details
    )


def _dumped(value: Any) -> str | None:
    """A summary path pointing at an object or list still says something."""
    if value is None or value == "":
        return None
    return json.dumps(value, separators=(",", ":"), default=str)


def _action(value: Any, config: Config) -> Action:
    if value is None:
        return config.default_action
    word = _scalar_text(value)
    action = None if word is None else config.action_map.get(word.strip().lower())
    action = action or (None if word is None else DEFAULT_ACTIONS.get(word.strip().lower()))
    if action is None:
        shown = clip(repr(value), 80)
        raise InvalidPayload(
            [f"action ({config.action}): unknown value {shown} (map it with actionMap)"]
        )
    return action


def verify(
    headers: Mapping[str, str], body: bytes, secret: str, config: Config | None = None
) -> bool:
    """``config`` names the header; the route passing none means the default header."""
    name = (config.signature_header if config else DEFAULT_SIGNATURE_HEADER).lower()
    signature = headers.get(name, "").strip().lower().removeprefix("sha256=")
    if not signature or not signature.isascii():
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)
