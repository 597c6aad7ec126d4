"""Stepping through an escalation policy: pure, so it is tested without Temporal.

The incident workflow (from the escalation issue on) keeps an :class:`Escalation` in its
state, asks :func:`next_due` how long to sleep, and calls :func:`fire` when that time comes.
The policy is passed in fresh each time, so a changed policy applies from the next step.
"""

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from workflows.notifications import ServiceChannels


class Target(BaseModel):
    type: Literal["user", "team", "schedule"]
    id: str


class PolicyStep(BaseModel):
    delay_minutes: int = Field(ge=0)
    targets: list[Target]
    channels: list[str] | None = None


class Policy(BaseModel):
    id: str
    steps: list[PolicyStep]
    repeat_count: int = Field(default=0, ge=0)


class FiredStep(PolicyStep):
    """A step as it fired: ``index`` is 0-based within the policy, ``round`` 0-based."""

    index: int
    round: int


class Escalation(BaseModel):
    """Where an incident is in its policy. ``due_at`` None means finished or paused."""

    step: int = 0
    round: int = 0
    due_at: datetime | None = None
    # Counts (re)starts: re-opening an incident runs the policy again from step 1, and the
    # pages of that run must not be taken for the earlier run's (their keys include it).
    cycle: int = 0
    # Set while paused (snooze): the time that was left until the next step.
    paused_remaining: timedelta | None = None
    finished: bool = False


def begin(now: datetime, cycle: int = 0) -> Escalation:
    """Step 1 at once (and again from step 1 when an incident is re-opened)."""
    return Escalation(due_at=now, cycle=cycle)


def stop(escalation: Escalation) -> Escalation:
    """Acknowledged or resolved: nothing more is due."""
    return escalation.model_copy(
        update={"finished": True, "due_at": None, "paused_remaining": None}
    )


def next_due(escalation: Escalation) -> datetime | None:
    return None if escalation.finished else escalation.due_at


def fire(
    policy: Policy, escalation: Escalation, now: datetime
) -> tuple[FiredStep | None, Escalation]:
    """The step to notify now and the state after it.

    After the last step the whole policy repeats ``repeat_count`` times, then escalation is
    finished. A policy that lost steps since the last one fired continues with what exists.
    """
    if escalation.finished or not policy.steps:
        return None, escalation.model_copy(update={"finished": True, "due_at": None})
    index = escalation.step
    round_ = escalation.round
    if index >= len(policy.steps):  # the policy shrank: this round is over
        index, round_ = 0, round_ + 1
        if round_ > policy.repeat_count:
            return None, escalation.model_copy(update={"finished": True, "due_at": None})
    step = FiredStep(**policy.steps[index].model_dump(), index=index, round=round_)
    following = Escalation(
        step=index + 1,
        round=round_,
        due_at=now + timedelta(minutes=step.delay_minutes),
        cycle=escalation.cycle,
    )
    if following.step >= len(policy.steps):
        if round_ >= policy.repeat_count:
            following = following.model_copy(update={"finished": True, "due_at": None})
        else:
            following = following.model_copy(update={"step": 0, "round": round_ + 1})
    return step, following


def pause(escalation: Escalation, now: datetime) -> Escalation:
    """Snoozed: remember how long was left, and stop the clock."""
    if escalation.finished or escalation.due_at is None:
        return escalation
    remaining = max(escalation.due_at - now, timedelta(0))
    return escalation.model_copy(update={"due_at": None, "paused_remaining": remaining})


def resume(escalation: Escalation, now: datetime) -> Escalation:
    """The snooze ended: the clock runs again with the time that was left."""
    if escalation.paused_remaining is None:
        return escalation
    return escalation.model_copy(
        update={"due_at": now + escalation.paused_remaining, "paused_remaining": None}
    )


class PolicyLookup(BaseModel):
    """The policy an incident's next step follows, read fresh when the step fires.

    ``source`` "team" is seed 001's fallback (no policy: the service's team, once), "none"
    means nobody can be paged (no policy, no team, or the service is gone)."""

    source: Literal["policy", "team", "none"]
    policy: Policy | None = None
    service_name: str | None = None
    # Read by the same query: runs that share one lookup per step (workflows/notifier.py)
    # announce the step's events with these instead of looking the channels up again.
    channels: ServiceChannels | None = None
