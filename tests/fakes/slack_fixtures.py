"""The session's fake Slack (tests/fakes/slack_api.py); tests reset what they rely on."""

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.fakes.slack_api import TEST_BOT_TOKEN, FakeSlack


@pytest_asyncio.fixture(scope="session")
async def slack_api() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(token=TEST_BOT_TOKEN)
    await fake.start()
    yield fake
    await fake.stop()
