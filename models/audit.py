"""The audit log: who changed which configuration, and which incident actions people took.

Configuration changes are recorded by the ``models`` functions that make them, with
:func:`record`, in the caller's transaction: the API, the web UI and the CLI share those
functions, so each change is recorded once, and committed or rolled back with the change.
Who acts travels in a context variable that the web layer sets once it knows the principal
(:func:`acting_as`), so no models function grew an actor parameter. Incident actions never
pass through here: the projection activity derives them from the workflow's timeline
(activities/incident_audit.py), keyed by ``source_key`` so a retry adds nothing.
"""

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import BigInteger, Column, Identity, Index
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from models.columns import jsonb, timestamp, utcnow

# Credentials and their hashes never reach the log, whatever the table calls them.
SECRET_FIELDS = frozenset({"key_hash", "password_hash", "signing_secret", "token_hash"})
REDACTED = "[redacted]"
# Target types are the domain's words; a table named otherwise maps here.
_TARGET_TYPES = {"user_account": "user"}


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_at_id", "at", "id"),
        Index("ix_audit_entry_target", "target_type", "target_id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    at: datetime = Field(default_factory=utcnow, sa_column=timestamp())
    # The principal's actor string (web/auth.py Principal.actor: api_key:<id>, user:<id>),
    # slack:<name>, cli or system; actor_name is the key's or person's name when known.
    actor: str = Field(max_length=200, index=True)
    actor_name: str | None = Field(default=None, max_length=200)
    action: str = Field(max_length=64, index=True)
    target_type: str = Field(max_length=40)
    target_id: str = Field(max_length=200)
    before: dict[str, Any] | None = Field(default=None, sa_column=jsonb())
    after: dict[str, Any] | None = Field(default=None, sa_column=jsonb())
    request_id: str | None = Field(default=None, max_length=200)
    # Entries derived from something already recorded (incident:<id>:<timeline seq>) are
    # written at most once, however often the writer retries.
    source_key: str | None = Field(default=None, max_length=300, unique=True)


@dataclass(frozen=True)
class Actor:
    actor: str
    name: str | None = None
    request_id: str | None = None


SYSTEM = Actor("system")
_current: ContextVar[Actor] = ContextVar("tocsin_audit_actor", default=SYSTEM)


def acting_as(actor: Actor) -> None:
    """Who the changes made from now on in this task (one request, one CLI run) are by."""
    _current.set(actor)


def current_actor() -> Actor:
    return _current.get()


def redact(value: Any) -> Any:
    """``value`` with every secret field's value replaced (kept as null when unset, so the
    log still shows a secret being set or cleared)."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if v is not None else None) if k in SECRET_FIELDS else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def snapshot(row: SQLModel | None, **extra: Any) -> dict[str, Any] | None:
    """A row's columns (plus ``extra``, e.g. a team's members) as JSON, secrets redacted."""
    if row is None:
        return None
    data = {**row.model_dump(mode="json"), **to_jsonable_python(extra)}
    redacted: dict[str, Any] = redact(data)
    return redacted


def record(
    session: AsyncSession,
    action: str,
    target: SQLModel | type[SQLModel],
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    target_id: str | None = None,
) -> None:
    """Add an entry to the session: it commits (or rolls back) with the change itself.
    ``target`` names the type (its table) and, unless ``target_id`` says otherwise, the id.
    An update that changed nothing is not recorded."""
    if before is not None and before == after:
        return
    who = _current.get()
    table = str(target.__tablename__)  # type: ignore[union-attr]
    target_type = _TARGET_TYPES.get(table, table)
    session.add(
        AuditEntry(
            actor=who.actor,
            actor_name=who.name,
            request_id=who.request_id,
            action=f"{target_type}.{action}",
            target_type=target_type,
            target_id=str(target.id) if target_id is None else target_id,  # type: ignore[union-attr]
            before=redact(before),
            after=redact(after),
        )
    )
