"""Stable, readable identifiers for incident workflows and incidents."""

import hashlib
from urllib.parse import quote

_MAX_READABLE = 200
_HEX = frozenset("0123456789abcdef")


def incident_workflow_id(service_id: str, dedup_key: str) -> str:
    """``incident/<service>/<dedup key>``: one running workflow per open incident.

    The dedup key is percent-encoded so any character is safe and ``/`` cannot fake another
    service's id; keys whose encoding is too long for Temporal are hashed instead (the
    ``sha256:`` prefix cannot come out of ``quote``, so the two forms never collide).
    """
    encoded = quote(dedup_key, safe="-_.~@+=,;!*'()")
    if len(encoded) > _MAX_READABLE:
        encoded = "sha256:" + hashlib.sha256(dedup_key.encode()).hexdigest()
    return f"incident/{service_id}/{encoded}"


def incident_id(first_execution_run_id: str) -> str:
    """An incident is named by the first run of its workflow chain (stable across
    continue-as-new, new for every incident that reuses the same dedup key)."""
    return "inc_" + first_execution_run_id.replace("-", "")


def is_incident_id(value: str) -> bool:
    """Whether ``value`` has the form of an incident id (it may not exist)."""
    raw = value.removeprefix("inc_")
    return value.startswith("inc_") and len(raw) == 32 and all(c in _HEX for c in raw)


def first_run_id(incident: str) -> str:
    """The inverse of :func:`incident_id`: the run id (UUID form) that names the incident."""
    raw = incident.removeprefix("inc_")
    if len(raw) != 32:
        raise ValueError(f"not an incident id: {incident}")
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
