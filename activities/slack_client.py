"""The Slack Web API client and what its errors mean for a retry.

Slack answers HTTP 200 with ``{"ok": false, "error": ...}`` for most failures; slack_sdk
raises SlackApiError for those and for non-200 answers. Rate limits, Slack's own outages and
broken connections pass (retry later); everything else (a missing channel, a revoked token,
a message Slack will never accept) fails the same way every time, so retrying only delays
the timeline entry that tells a person why nobody was reached.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from activities.deliveries import DeliveryFailed
from tocsin.settings import Settings

NOT_CONFIGURED = "Slack is not configured (TOCSIN_SLACK_BOT_TOKEN)"
TIMEOUT_SECONDS = 10

# Errors Slack documents as transient (api.slack.com/web#errors and per-method lists).
RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
     "request_timeout"}
)  # fmt: skip


class PooledWebClient(AsyncWebClient):
    """An AsyncWebClient whose calls share one keep-alive connection pool.

    Without a session slack_sdk opens a new one, so a new TCP and TLS connection to Slack,
    for every call: each page paid a handshake before it was sent. The pool is made on the
    first call, in the event loop that makes it (an aiohttp session belongs to one loop);
    ``close`` releases it. A connection Slack closed while idle is retried by slack_sdk's
    default connection-error handler.
    """

    _pool_loop: asyncio.AbstractEventLoop | None = None

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        loop = asyncio.get_running_loop()
        if self.session is None or self.session.closed or self._pool_loop is not loop:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
            self._pool_loop = loop
        return await super().api_call(api_method, **kwargs)

    async def close(self) -> None:
        if self.session is not None and not self.session.closed:
            await self.session.close()


def slack_client(settings: Settings) -> PooledWebClient | None:
    """A client for the bot token, or None without one. Whoever makes it closes it."""
    if settings.slack_bot_token is None:
        return None
    return PooledWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=TIMEOUT_SECONDS,
    )


def slack_error(err: SlackApiError) -> str | None:
    """The ``error`` code of Slack's answer, if it had one."""
    data = err.response.data
    return str(data.get("error")) if isinstance(data, dict) and data.get("error") else None


def failure(err: Exception, method: str) -> DeliveryFailed:
    """A DeliveryFailed that says whether trying again can help."""
    if isinstance(err, SlackApiError):
        status = err.response.status_code
        code = slack_error(err)
        data: dict[str, Any] = {"method": method, "http_status": status, "slack_error": code}
        if status == 429 or code in ("ratelimited", "rate_limited"):
            data["retry_after"] = err.response.headers.get("Retry-After")
            return DeliveryFailed(f"Slack {method}: rate limited", data=data)
        if status >= 500:
            return DeliveryFailed(f"Slack {method}: HTTP {status}", data=data)
        if code in RETRYABLE_ERRORS:
            return DeliveryFailed(f"Slack {method}: {code}", data=data)
        return DeliveryFailed(f"Slack {method}: {code or status}", retryable=False, data=data)
    if isinstance(err, aiohttp.ClientError | asyncio.TimeoutError | ConnectionError):
        return DeliveryFailed(
            f"Slack {method}: {type(err).__name__}: {err}", data={"method": method}
        )
    if isinstance(err, SlackClientError):  # a request slack_sdk refused to build
        return DeliveryFailed(f"Slack {method}: {err}", retryable=False, data={"method": method})
    return DeliveryFailed(f"Slack {method}: {err!r}", data={"method": method})


@contextmanager
def calling(method: str) -> Iterator[None]:
    """Turn anything a Slack call raises into a DeliveryFailed."""
    try:
        yield
    except DeliveryFailed:
        raise
    except Exception as err:
        raise failure(err, method) from err


async def pages(
    client: AsyncWebClient, method: str, max_pages: int, **params: Any
) -> AsyncIterator[dict[str, Any]]:
    """The pages of a cursor-paginated method, at most ``max_pages``."""
    cursor: str | None = None
    for _ in range(max_pages):
        with calling(method):
            response = await client.api_call(
                method, http_verb="GET", params={**params, **({"cursor": cursor} if cursor else {})}
            )
        page: dict[str, Any] = response.data  # type: ignore[assignment]
        yield page
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return


async def user_id_for(client: AsyncWebClient, address: str) -> str:
    """A Slack user id for a person's Slack id or email (``users.lookupByEmail``)."""
    if "@" not in address:
        return address
    try:
        with calling("users.lookupByEmail"):
            response = await client.users_lookupByEmail(email=address)
    except DeliveryFailed as err:
        if err.data.get("slack_error") == "users_not_found":
            raise DeliveryFailed(
                f"no Slack user with email {address}", retryable=False, data=err.data
            ) from err
        raise
    return str(response["user"]["id"])


async def dm_channel(client: AsyncWebClient, address: str) -> str:
    """The id of the DM conversation with a person (Slack id or email), opened if need be."""
    user = await user_id_for(client, address)
    with calling("conversations.open"):
        response = await client.conversations_open(users=user)
    return str(response["channel"]["id"])


async def channel_id(client: AsyncWebClient, ref: str) -> str:
    """A conversation id for an id or a ``#name`` (history and replies take ids only)."""
    if not ref.startswith("#"):
        return ref
    name = ref[1:]
    async for page in pages(
        client,
        "conversations.list",
        20,
        types="public_channel,private_channel",
        exclude_archived="true",
        limit=1000,
    ):
        for channel in page.get("channels", []):
            if channel.get("name") == name:
                return str(channel["id"])
    raise DeliveryFailed(f"Slack: no channel named {ref}", retryable=False)
