"""A local Slack Web API: a real HTTP server the real slack_sdk client talks to.

It speaks the wire protocol (``/api/<method>``, ``Authorization: Bearer``, arguments in the
query string, a form or a JSON body, answers ``{"ok": true, ...}`` or ``{"ok": false,
"error": ...}``) for the methods Tocsin uses, keeps channels, users and messages (with their
metadata and threads), and records every call. Test hooks fail the next calls of a method
(or every call, for an outage), delay them, or hold their answers: a held
``chat.postMessage`` has already stored its message, which is "Slack got it and the worker
died before recording it".

In-process: ``fake = FakeSlack(); url = await fake.start()``. Standalone (benchmarks, kill -9
tests): ``python -m tests.fakes.slack_api --port P`` prints its URL; ``GET /_calls``,
``POST /_reset``, ``POST /_users``, ``POST /_channels``, ``POST /_fail``, ``POST /_hold`` and
``POST /_release`` drive it over HTTP, and ``POST /_responses/<name>`` is a response_url.
"""

import argparse
import asyncio
import itertools
import json
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

# What the tests configure Tocsin with (tests/conftest.py settings).
TEST_BOT_TOKEN = "xoxb-tocsin-test"
TEST_SIGNING_SECRET = "test-signing-secret"
BOT_USER = "U0TOCSINBOT"
BOT_ID = "B0TOCSINBOT"
TEAM_ID = "T0FAKE"
_CHANNEL_NAME = re.compile(r"^[a-z0-9_-]{1,80}$")
_TRUE = {"1", "true", "True", True}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    # time.monotonic() when the request arrived (CLOCK_MONOTONIC is system-wide on Linux,
    # so a standalone fake's times compare with the test's).
    at: float
    http_verb: str = "POST"
    peer: tuple[Any, ...] | None = None  # the client's address and port: its connection

    def as_json(self) -> dict[str, Any]:
        return {"method": self.method, "params": self.params, "at": self.at, "verb": self.http_verb}


@dataclass
class Failure:
    error: str = "ratelimited"
    status: int = 200
    retry_after: int | None = None


@dataclass
class Conversation:
    id: str
    name: str
    is_member: bool = True
    is_im: bool = False
    archived: bool = False
    members: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_im,
            "is_im": self.is_im,
            "is_archived": self.archived,
            "is_member": self.is_member,
            "created": int(time.time()),
            "creator": BOT_USER,
        }


class FakeSlack:
    def __init__(self, token: str | None = None) -> None:
        # None accepts any bot token (xoxb-…); a string accepts only that one.
        self.token = token
        self.calls: list[Call] = []
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.reset()

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/_calls", self._http_calls)
        app.router.add_post("/_reset", self._http_reset)
        app.router.add_post("/_users", self._http_users)
        app.router.add_post("/_channels", self._http_channels)
        app.router.add_post("/_fail", self._http_fail)
        app.router.add_post("/_hold", self._http_hold)
        app.router.add_post("/_release", self._http_release)
        app.router.add_post("/_responses/{name}", self._http_response_url)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.url = f"http://{bound[0]}:{bound[1]}"
        return self.url

    async def stop(self) -> None:
        for event in self._holds.values():
            event.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_url(self) -> str:
        """What ``slack_api_url`` / ``AsyncWebClient(base_url=...)`` is set to."""
        return f"{self.url}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.url}/_responses/{name}"

    # --- test hooks ----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything (between tests that share the session's fake)."""
        for event in getattr(self, "_holds", {}).values():
            event.set()
        self.calls = []
        self.conversations: dict[str, Conversation] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self._failures: dict[str, deque[Failure]] = {}
        self._outages: dict[str, Failure] = {}
        self._holds: dict[str, asyncio.Event] = {}
        self._delays: dict[str, float] = {}
        self._ids = itertools.count(1)
        self._last_ts = 0.0

    def add_user(
        self, name: str, email: str | None = None, user_id: str | None = None
    ) -> dict[str, Any]:
        user_id = user_id or f"U{next(self._ids):08d}"
        profile = {"real_name": name, "display_name": name}
        if email is not None:
            profile["email"] = email
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": name,
            "deleted": False,
            "is_bot": False,
            "profile": profile,
        }
        self.users[user_id] = user
        return user

    def add_channel(self, name: str, *, is_member: bool = True) -> str:
        conv = Conversation(id=f"C{next(self._ids):08d}", name=name, is_member=is_member)
        self.conversations[conv.id] = conv
        return conv.id

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        *,
        status: int = 200,
        count: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """The next ``count`` calls of ``method`` fail: ``{"ok": false, "error"}`` with HTTP
        ``status`` (429 adds Retry-After; 5xx answers an HTML error page, as a proxy would)."""
        queue = self._failures.setdefault(method, deque())
        queue.extend(Failure(error, status, retry_after) for _ in range(count))

    def outage(self, method: str, failure: Failure | None) -> None:
        """Every call of ``method`` fails with ``failure`` until ``outage(method, None)``."""
        if failure is None:
            self._outages.pop(method, None)
        else:
            self._outages[method] = failure

    def hold(self, method: str) -> asyncio.Event:
        """Answer ``method`` only once the returned event is set; the call's effect (e.g. a
        stored message) happens before the hold."""
        event = asyncio.Event()
        self._holds[method] = event
        return event

    def release(self, method: str) -> None:
        if (event := self._holds.pop(method, None)) is not None:
            event.set()

    def delay(self, method: str, seconds: float | None) -> None:
        """Answer ``method`` ``seconds`` late (None: on time again)."""
        if seconds is None:
            self._delays.pop(method, None)
        else:
            self._delays[method] = seconds

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        conv = self._find_conversation(channel)
        return [] if conv is None else list(conv.messages)

    def im_channel(self, user_id: str) -> str:
        return self._im(user_id).id

    # --- the Web API ---------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = await _params(request)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.calls.append(Call(method, params, time.monotonic(), request.method, peer))
        if failures := self._failures.get(method):
            return _failure(failures.popleft())
        if (down := self._outages.get(method)) is not None:
            return _failure(down)
        auth = _bearer(request, params)
        if auth is None:
            body: dict[str, Any] = {"ok": False, "error": "not_authed"}
        elif not (auth == self.token if self.token else auth.startswith("xoxb-")):
            body = {"ok": False, "error": "invalid_auth"}
        else:
            handler = _METHODS.get(method)
            if handler is None:
                body = {"ok": False, "error": "unknown_method"}
            else:
                try:
                    body = handler(self, params)
                except SlackError as err:
                    body = {"ok": False, "error": err.code}
        if (delay := self._delays.get(method)) is not None:
            await asyncio.sleep(delay)
        if (hold := self._holds.get(method)) is not None:
            await hold.wait()
        return web.json_response(body)

    def _post_message(self, p: dict[str, Any]) -> dict[str, Any]:
        conv = self._target(p)
        text, blocks = p.get("text"), _json_arg(p.get("blocks"))
        if not text and not blocks:
            raise SlackError("no_text")
        if text and len(text) > 40000:
            raise SlackError("msg_too_long")
        if blocks is not None and (not isinstance(blocks, list) or len(blocks) > 50):
            raise SlackError("invalid_blocks")
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "text": text or "",
            "ts": self._next_ts(),
        }
        if blocks is not None:
            message["blocks"] = blocks
        if (metadata := _json_arg(p.get("metadata"))) is not None:
            message["metadata"] = metadata
        if thread_ts := p.get("thread_ts"):
            parent = _message(conv, str(thread_ts))
            if parent is None:
                raise SlackError("thread_not_found")
            message["thread_ts"] = parent["ts"]
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            parent.setdefault("thread_ts", parent["ts"])
        conv.messages.append(message)
        return {"ok": True, "channel": conv.id, "ts": message["ts"], "message": message}

    def _update(self, p: dict[str, Any]) -> dict[str, Any]:
        conv = self._conversation(p.get("channel"))
        message = _message(conv, str(p.get("ts", "")))
        if message is None:
            raise SlackError("message_not_found")
        if "text" in p:
            message["text"] = p["text"]
        if (blocks := _json_arg(p.get("blocks"))) is not None:
            if not isinstance(blocks, list) or len(blocks) > 50:
                raise SlackError("invalid_blocks")
            message["blocks"] = blocks
        if (metadata := _json_arg(p.get("metadata"))) is not None:
            message["metadata"] = metadata
        message["edited"] = {"user": BOT_USER, "ts": self._next_ts()}
        return {
            "ok": True,
            "channel": conv.id,
            "ts": message["ts"],
            "text": message["text"],
            "message": message,
        }

    def _history(self, p: dict[str, Any]) -> dict[str, Any]:
        conv = self._readable(p.get("channel"))
        top = [m for m in conv.messages if m.get("thread_ts", m["ts"]) == m["ts"]]
        return self._page(list(reversed(top)), p)

    def _replies(self, p: dict[str, Any]) -> dict[str, Any]:
        conv = self._readable(p.get("channel"))
        parent = _message(conv, str(p.get("ts", "")))
        if parent is None:
            raise SlackError("thread_not_found")
        thread = [parent] + [
            m for m in conv.messages if m.get("thread_ts") == parent["ts"] and m is not parent
        ]
        return self._page(thread, p)

    def _page(self, messages: list[dict[str, Any]], p: dict[str, Any]) -> dict[str, Any]:
        inclusive = p.get("inclusive") in _TRUE
        if (oldest := p.get("oldest")) is not None:
            low = float(oldest)
            messages = [
                m for m in messages if float(m["ts"]) > low or (inclusive and float(m["ts"]) == low)
            ]
        if (latest := p.get("latest")) is not None:
            high = float(latest)
            messages = [
                m
                for m in messages
                if float(m["ts"]) < high or (inclusive and float(m["ts"]) == high)
            ]
        limit = min(int(p.get("limit") or 100), 999)
        start = int(p.get("cursor") or 0)
        page = messages[start : start + limit]
        more = start + limit < len(messages)
        with_metadata = p.get("include_all_metadata") in _TRUE
        out = [
            m if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in page
        ]
        return {
            "ok": True,
            "messages": out,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _open(self, p: dict[str, Any]) -> dict[str, Any]:
        users = str(p.get("users", "")).split(",")
        if len(users) != 1 or users[0] not in self.users:
            raise SlackError("user_not_found")
        return {"ok": True, "channel": {"id": self._im(users[0]).id}}

    def _list(self, p: dict[str, Any]) -> dict[str, Any]:
        exclude_archived = p.get("exclude_archived") in _TRUE
        channels = [
            c.as_json()
            for c in self.conversations.values()
            if not c.is_im and not (exclude_archived and c.archived)
        ]
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}

    def _users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(p.get("user", "")))
        if user is None:
            raise SlackError("user_not_found")
        return {"ok": True, "user": user}

    def _lookup_by_email(self, p: dict[str, Any]) -> dict[str, Any]:
        email = str(p.get("email", "")).lower()
        for user in self.users.values():
            if str(user["profile"].get("email", "")).lower() == email:
                return {"ok": True, "user": user}
        raise SlackError("users_not_found")

    def _create(self, p: dict[str, Any]) -> dict[str, Any]:
        name = str(p.get("name", ""))
        if not _CHANNEL_NAME.match(name):
            raise SlackError("invalid_name_specials")
        if any(c.name == name for c in self.conversations.values()):
            raise SlackError("name_taken")
        conv = self.conversations[self.add_channel(name)]
        conv.members.add(BOT_USER)
        return {"ok": True, "channel": conv.as_json()}

    def _invite(self, p: dict[str, Any]) -> dict[str, Any]:
        conv = self._readable(p.get("channel"))
        users = [u for u in str(p.get("users", "")).split(",") if u]
        if not users or any(u not in self.users for u in users):
            raise SlackError("user_not_found")
        if all(u in conv.members for u in users):
            raise SlackError("already_in_channel")
        conv.members.update(users)
        return {"ok": True, "channel": conv.as_json()}

    def _archive(self, p: dict[str, Any]) -> dict[str, Any]:
        conv = self._readable(p.get("channel"))
        if conv.archived:
            raise SlackError("already_archived")
        conv.archived = True
        return {"ok": True}

    def _auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "user": "tocsin",
            "team_id": TEAM_ID,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
        }

    # --- conversations -------------------------------------------------------------------

    def _find_conversation(self, ref: Any) -> Conversation | None:
        ref = str(ref or "")
        if ref in self.conversations:
            return self.conversations[ref]
        name = ref.removeprefix("#")
        return next((c for c in self.conversations.values() if c.name == name), None)

    def _conversation(self, ref: Any) -> Conversation:
        conv = self._find_conversation(ref)
        if conv is None:
            raise SlackError("channel_not_found")
        if conv.archived:
            raise SlackError("is_archived")
        return conv

    def _readable(self, ref: Any) -> Conversation:
        conv = self._find_conversation(ref)
        if conv is None:
            raise SlackError("channel_not_found")
        if not conv.is_member:
            raise SlackError("not_in_channel")
        return conv

    def _target(self, p: dict[str, Any]) -> Conversation:
        """chat.postMessage's ``channel``: an id, a ``#name``, or a user id (their DM)."""
        ref = str(p.get("channel") or "")
        if ref in self.users:
            return self._im(ref)
        conv = self._conversation(ref)
        if not conv.is_member:
            raise SlackError("not_in_channel")
        return conv

    def _im(self, user_id: str) -> Conversation:
        im_id = "D" + user_id[1:]
        if im_id not in self.conversations:
            self.conversations[im_id] = Conversation(id=im_id, name=user_id, is_im=True)
        return self.conversations[im_id]

    def _next_ts(self) -> str:
        """Slack's ts: seconds.microseconds, unique and increasing within a conversation."""
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"

    # --- HTTP hooks for a standalone fake ------------------------------------------------

    async def _http_calls(self, request: web.Request) -> web.Response:
        method = request.query.get("method")
        calls = [c.as_json() for c in self.calls if method is None or c.method == method]
        return web.json_response({"calls": calls})

    async def _http_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _http_users(self, request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response(self.add_user(body["name"], body.get("email"), body.get("id")))

    async def _http_channels(self, request: web.Request) -> web.Response:
        body = await request.json()
        channel = self.add_channel(body["name"], is_member=body.get("is_member", True))
        return web.json_response({"id": channel})

    async def _http_fail(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.fail_next(
            body["method"],
            body.get("error", "ratelimited"),
            status=body.get("status", 200),
            count=body.get("count", 1),
            retry_after=body.get("retry_after"),
        )
        return web.json_response({"ok": True})

    async def _http_hold(self, request: web.Request) -> web.Response:
        self.hold((await request.json())["method"])
        return web.json_response({"ok": True})

    async def _http_release(self, request: web.Request) -> web.Response:
        self.release((await request.json())["method"])
        return web.json_response({"ok": True})

    async def _http_response_url(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(
            Call(f"response_url:{request.match_info['name']}", body, time.monotonic())
        )
        return web.Response(text="ok")


class SlackError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


_METHODS = {
    "auth.test": FakeSlack._auth_test,
    "chat.postMessage": FakeSlack._post_message,
    "chat.update": FakeSlack._update,
    "conversations.history": FakeSlack._history,
    "conversations.replies": FakeSlack._replies,
    "conversations.open": FakeSlack._open,
    "conversations.list": FakeSlack._list,
    "conversations.create": FakeSlack._create,
    "conversations.invite": FakeSlack._invite,
    "conversations.archive": FakeSlack._archive,
    "users.info": FakeSlack._users_info,
    "users.lookupByEmail": FakeSlack._lookup_by_email,
}


async def _params(request: web.Request) -> dict[str, Any]:
    """Slack takes arguments from the query string, a form or a JSON body, in any mix."""
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        else:
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    return params


def _bearer(request: web.Request, params: dict[str, Any]) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip()
    token = params.pop("token", None)
    return str(token) if token else None


def _json_arg(value: Any) -> Any:
    """Form-encoded calls send blocks and metadata as JSON strings; JSON calls as objects."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _message(conv: Conversation, ts: str) -> dict[str, Any] | None:
    return next((m for m in conv.messages if m["ts"] == ts), None)


def _failure(failure: Failure) -> web.Response:
    if failure.status >= 500:
        return web.Response(
            status=failure.status,
            text="<html><body>Slack is having trouble</body></html>",
            content_type="text/html",
        )
    headers = {}
    if failure.status == 429 or failure.retry_after is not None:
        headers["Retry-After"] = str(failure.retry_after or 1)
    return web.json_response(
        {"ok": False, "error": failure.error}, status=failure.status, headers=headers
    )


async def _serve(host: str, port: int) -> None:
    fake = FakeSlack()
    url = await fake.start(host, port)
    print(url, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(_serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
