"""Escalation policies: who is paged, in what order, and how long to wait between steps.

Configuration only: the tables, plus the pure checks of a policy's shape (no I/O, so they
are tested directly). Writes are in models/escalation_policies.py; the incident workflow
runs policies (workflows/notifier.py).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from models.columns import jsonb, timestamp, utcnow
from models.errors import InvalidValue

TARGET_TYPES = ("user", "team", "schedule")
CHANNELS = ("slack", "email", "webhook")
MAX_STEPS = 20
MAX_TARGETS = 10
MAX_DELAY_MINUTES = 1440
MAX_REPEAT_COUNT = 9


class EscalationPolicy(SQLModel, table=True):
    __tablename__ = "escalation_policy"
    __table_args__ = (
        CheckConstraint(
            f"repeat_count BETWEEN 0 AND {MAX_REPEAT_COUNT}",
            name="escalation_policy_repeat_count_check",
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(unique=True, max_length=200)
    description: str | None = Field(default=None)
    # How many times the whole list of steps runs again after the last step.
    repeat_count: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp())


class EscalationStep(SQLModel, table=True):
    __tablename__ = "escalation_step"
    __table_args__ = (
        CheckConstraint(
            f"delay_minutes BETWEEN 0 AND {MAX_DELAY_MINUTES}",
            name="escalation_step_delay_minutes_check",
        ),
    )

    policy_id: str = Field(
        primary_key=True, foreign_key="escalation_policy.id", ondelete="CASCADE", max_length=40
    )
    # 0-based order within the policy; steps are replaced wholesale, never renumbered.
    position: int = Field(primary_key=True)
    # The wait after this step's notifications before the next step.
    delay_minutes: int
    # [{"type": "user" | "team" | "schedule", "id": ...}]
    targets: list[dict[str, Any]] = Field(sa_column=jsonb(nullable=False))
    # None: each target's own notification rules decide the channels.
    channels: list[str] | None = Field(default=None, sa_column=jsonb(nullable=True))


@dataclass(frozen=True)
class Target:
    type: str
    id: str


@dataclass(frozen=True)
class StepSpec:
    delay_minutes: int
    targets: tuple[Target, ...]
    channels: tuple[str, ...] | None = None


def check_repeat_count(repeat_count: int) -> int:
    if not 0 <= repeat_count <= MAX_REPEAT_COUNT:
        raise InvalidValue("repeat_count", f"must be between 0 and {MAX_REPEAT_COUNT}")
    return repeat_count


def check_steps(steps: Sequence[StepSpec]) -> None:
    """The shape of a policy's steps; raises InvalidValue naming the field, e.g.
    ``steps.0.targets.1.type``. Whether users, teams and schedules exist is checked by the
    writer."""
    if not 1 <= len(steps) <= MAX_STEPS:
        raise InvalidValue("steps", f"a policy needs 1 to {MAX_STEPS} steps")
    for i, step in enumerate(steps):
        at = f"steps.{i}"
        if not 0 <= step.delay_minutes <= MAX_DELAY_MINUTES:
            raise InvalidValue(f"{at}.delay_minutes", f"must be between 0 and {MAX_DELAY_MINUTES}")
        if not 1 <= len(step.targets) <= MAX_TARGETS:
            raise InvalidValue(f"{at}.targets", f"a step needs 1 to {MAX_TARGETS} targets")
        seen: set[Target] = set()
        for j, target in enumerate(step.targets):
            if target.type not in TARGET_TYPES:
                raise InvalidValue(
                    f"{at}.targets.{j}.type", f"must be one of {', '.join(TARGET_TYPES)}"
                )
            if target in seen:
                raise InvalidValue(f"{at}.targets.{j}", "the same target twice in one step")
            seen.add(target)
        if step.channels is not None:
            _check_channels(f"{at}.channels", step.channels)


def _check_channels(field: str, channels: Sequence[str]) -> None:
    if not channels:
        raise InvalidValue(field, "give at least one channel, or null for the targets' own rules")
    for k, channel in enumerate(channels):
        if channel not in CHANNELS:
            raise InvalidValue(f"{field}.{k}", f"must be one of {', '.join(CHANNELS)}")
    if len(set(channels)) != len(channels):
        raise InvalidValue(field, "the same channel twice")


def step_rows(policy_id: str, steps: Sequence[StepSpec]) -> list[EscalationStep]:
    return [
        EscalationStep(
            policy_id=policy_id,
            position=i,
            delay_minutes=step.delay_minutes,
            targets=[{"type": t.type, "id": t.id} for t in step.targets],
            channels=None if step.channels is None else list(step.channels),
        )
        for i, step in enumerate(steps)
    ]


def step_spec(row: EscalationStep) -> StepSpec:
    return StepSpec(
        delay_minutes=row.delay_minutes,
        targets=tuple(Target(type=t["type"], id=t["id"]) for t in row.targets),
        channels=None if row.channels is None else tuple(row.channels),
    )
