"""Changing how people are reached: contact methods and notification rules. Functions flush
but never commit; they raise ``models.errors`` naming the field."""

import re
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.audit import record, snapshot
from models.errors import Conflict, InvalidValue
from models.notifications import CONTACT_TYPES, URGENCIES, ContactMethod, NotificationRule
from models.paging import DEFAULT_CHANNELS
from models.uniqueness import lock_row
from models.user import User
from tocsin.keys import new_id

_ADDRESS = {
    "slack": (re.compile(r"^[UW][A-Z0-9]{2,20}$"), "must be a Slack user id (U… or W…)"),
    "email": (re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), "must be an email address"),
    "webhook": (re.compile(r"^https?://\S+$"), "must be an http(s) URL"),
}


def check_address(type_: str, address: str) -> str:
    if type_ not in CONTACT_TYPES:
        raise InvalidValue("type", f"must be one of {', '.join(CONTACT_TYPES)}")
    address = address.strip().lower() if type_ == "email" else address.strip()
    pattern, message = _ADDRESS[type_]
    if not pattern.match(address):
        raise InvalidValue("address", message)
    return address


async def add_contact_method(
    session: AsyncSession, user_id: str, type_: str, address: str, label: str | None
) -> ContactMethod:
    method = ContactMethod(
        id=new_id("cm"),
        user_id=user_id,
        type=type_,
        address=check_address(type_, address),
        label=label,
    )
    session.add(method)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as err:
        raise Conflict("address", f"the user already has this {type_} address") from err
    record(session, "create", method, after=snapshot(method))
    return method


async def delete_contact_method(session: AsyncSession, method: ContactMethod) -> None:
    before = snapshot(method)
    await session.delete(method)
    await session.flush()
    record(session, "delete", method, before=before)


async def contact_methods(session: AsyncSession, user_id: str) -> Sequence[ContactMethod]:
    return (
        await session.exec(
            select(ContactMethod)
            .where(ContactMethod.user_id == user_id)
            .order_by(col(ContactMethod.created_at), col(ContactMethod.id))
        )
    ).all()


def check_urgency(urgency: str) -> str:
    if urgency.upper() not in URGENCIES:
        raise InvalidValue("urgency", f"must be one of {', '.join(URGENCIES)}")
    return urgency.upper()


async def set_rule(
    session: AsyncSession, user_id: str, urgency: str, channels: Sequence[str]
) -> NotificationRule:
    urgency = check_urgency(urgency)
    if len(set(channels)) != len(channels):
        raise InvalidValue("channels", "the same channel twice")
    await lock_row(session, User.id, user_id)
    rule = await session.get(NotificationRule, (user_id, urgency))
    before = snapshot(rule)
    if rule is None:
        rule = NotificationRule(user_id=user_id, urgency=urgency, channels=list(channels))
    else:
        rule.channels = list(channels)
    session.add(rule)
    await session.flush()
    record(session, "set", rule, before=before, after=snapshot(rule), target_id=rule_id(rule))
    return rule


async def clear_rule(session: AsyncSession, rule: NotificationRule) -> None:
    """Back to the default for the rule's urgency."""
    before = snapshot(rule)
    await session.delete(rule)
    await session.flush()
    record(session, "delete", rule, before=before, target_id=rule_id(rule))


def rule_id(rule: NotificationRule) -> str:
    """A rule has no id of its own: it is the user's rule for one urgency."""
    return f"{rule.user_id}/{rule.urgency}"


async def rules(session: AsyncSession, user_id: str) -> list[tuple[str, list[str], bool]]:
    """(urgency, channels, is default) for every urgency; defaults name only the channels
    the user has contact methods for (email always)."""
    stored = {
        r.urgency: r.channels
        for r in (
            await session.exec(select(NotificationRule).where(NotificationRule.user_id == user_id))
        ).all()
    }
    have = {m.type for m in await contact_methods(session, user_id)} | {"email"}
    out = []
    for urgency in URGENCIES:
        if urgency in stored:
            out.append((urgency, stored[urgency], False))
        else:
            out.append((urgency, [c for c in DEFAULT_CHANNELS[urgency] if c in have], True))
    return out
