"""A rate-limited channel's Retry-After sets the wait before the delivery's next attempt."""

from datetime import timedelta

import pytest

from activities.notification_ledger import MAX_RETRY_AFTER, DeliveryFailed, retry_delay


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [
        ("3", timedelta(seconds=3)),
        ("1.5", timedelta(seconds=1.5)),
        ("86400", MAX_RETRY_AFTER),  # capped: a sender asking for a day gets five minutes
        ("0", None),
        ("-2", None),
        ("Wed, 21 Oct 2026 07:28:00 GMT", None),  # an HTTP date: the backoff decides
        (None, None),
    ],
)
def test_retry_after_becomes_the_next_retry_delay(
    retry_after: str | None, wait: timedelta | None
) -> None:
    data = {} if retry_after is None else {"retry_after": retry_after}
    assert retry_delay(DeliveryFailed("Slack chat.postMessage: rate limited", data=data)) == wait
