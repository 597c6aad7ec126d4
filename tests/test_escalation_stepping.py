"""Pure escalation stepping: delays, repeats, shrinking policies, pause and resume."""

from datetime import UTC, datetime, timedelta

from workflows.escalation import (
    Escalation,
    Policy,
    PolicyStep,
    Target,
    begin,
    fire,
    next_due,
    pause,
    resume,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def policy(delays: list[int], repeat: int = 0) -> Policy:
    return Policy(
        id="pol_1",
        steps=[
            PolicyStep(delay_minutes=d, targets=[Target(type="user", id=f"usr_{i}")])
            for i, d in enumerate(delays)
        ],
        repeat_count=repeat,
    )


def run(p: Policy, limit: int = 50) -> list[tuple[int, str]]:
    """Fire until finished; returns (minute, first target) of every notification."""
    state, fired = begin(T0), []
    for _ in range(limit):
        due = next_due(state)
        if due is None:
            break
        step, state = fire(p, state, due)
        if step is not None:
            fired.append((int((due - T0).total_seconds() // 60), step.targets[0].id))
    return fired


def test_steps_fire_after_each_delay_then_finish() -> None:
    assert run(policy([5, 10, 0])) == [(0, "usr_0"), (5, "usr_1"), (15, "usr_2")]


def test_policy_repeats_after_the_last_step() -> None:
    assert run(policy([5, 10], repeat=2)) == [
        (0, "usr_0"), (5, "usr_1"), (15, "usr_0"), (20, "usr_1"), (30, "usr_0"), (35, "usr_1"),
    ]  # fmt: skip


def test_empty_policy_finishes_at_once() -> None:
    assert run(Policy(id="p", steps=[])) == []


def test_changed_policy_applies_from_the_next_step() -> None:
    long, short = policy([5, 5, 5]), policy([1])
    _, state = fire(long, begin(T0), T0)  # step 1 of the long policy fired
    step, state = fire(short, state, T0 + timedelta(minutes=5))
    # The short policy has no step 2: the round ends and, with no repeats, escalation too.
    assert step is None and state.finished


def test_pause_and_resume_keep_the_remaining_delay() -> None:
    _, state = fire(policy([30, 0]), begin(T0), T0)
    assert next_due(state) == T0 + timedelta(minutes=30)
    paused = pause(state, T0 + timedelta(minutes=10))
    assert next_due(paused) is None
    resumed = resume(paused, T0 + timedelta(hours=2))
    assert next_due(resumed) == T0 + timedelta(hours=2, minutes=20)


def test_finished_escalation_stays_finished() -> None:
    done = Escalation(finished=True)
    assert fire(policy([1]), done, T0) == (None, done.model_copy(update={"due_at": None}))
    assert pause(done, T0) == done and next_due(resume(done, T0)) is None
