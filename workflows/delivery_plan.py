"""Pure rules of the notification path: delivery keys and each channel's retry budget.

Keys are the exactly-once identity of a delivery (activities/deliveries.py): the same
incident, step, round, run of the policy, person and address always give the same key, so a
replayed or retried workflow never sends twice, while a re-opened incident (a new cycle)
pages again.
"""

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from temporalio.common import RetryPolicy

from workflows.notifications import Channel, Page


@dataclass(frozen=True)
class Budget:
    """How long one attempt may take and how often a delivery is tried."""

    attempt_timeout: timedelta
    retry: RetryPolicy

    @property
    def max_attempts(self) -> int:
        return self.retry.maximum_attempts


# Slack retries for about three minutes, so a Slack outage of minutes loses no message (the
# incident's Slack messages are its record there; the escalation never waits for them, see
# tests/chaos/test_slack_outage.py). Email gives up within about a minute: a page that late is
# better replaced by the next step. Webhooks retry for about ten minutes (docs/webhooks.md).
# A 429's Retry-After sets the wait before the next attempt (activities/notification_ledger.py).
BUDGETS = {
    Channel.SLACK: Budget(
        timedelta(seconds=15),
        RetryPolicy(
            initial_interval=timedelta(seconds=1),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=30),
            maximum_attempts=11,
        ),
    ),
    Channel.EMAIL: Budget(
        timedelta(seconds=30),
        RetryPolicy(
            initial_interval=timedelta(seconds=5),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=60),
            maximum_attempts=5,
        ),
    ),
    Channel.WEBHOOK: Budget(
        timedelta(seconds=15),
        RetryPolicy(
            initial_interval=timedelta(seconds=2),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=120),
            maximum_attempts=10,
        ),
    ),
}


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def page_key(incident_id: str, cycle: int, step: int, round_: int, page: Page) -> str:
    """``step`` is 1-based, ``round_`` 0-based."""
    return (
        f"{incident_id}/c{cycle}/s{step}/r{round_}/{page.recipient.user_id}/"
        f"{page.channel.value}/{_short(page.address)}"
    )


def event_key(incident_id: str, seq: int, channel: Channel, purpose: str, address: str) -> str:
    return f"{incident_id}/e{seq}/{channel.value}/{purpose}/{_short(address)}"
