"""The load generators' HTTP/1.1 client: keep-alive connections to one server, a POST of a
JSON body and its answer's status and body, nothing more.

The generator shares the machine's two cores with the stack it measures, so what it spends
per request is taken from the stack: aiohttp spent 0.18-0.26 ms of CPU per request, this
client 0.10-0.15 ms (docs/benchmarks.md).

Requests are written whole and answers read by Content-Length (or chunks), on plain asyncio
streams; a connection goes back to the pool only after a complete answer.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
# A connection idle longer than this is closed rather than reused: the server may be closing
# it (``tocsin api`` keeps idle connections 75 s).
IDLE_SECONDS = 30.0


class HttpError(Exception):
    """The server answered something this client does not read, or hung up mid-answer."""


class Http:
    def __init__(self, base_url: str, size: int, timeout: float = 60.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"not a plain http:// address: {base_url}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._authority = parts.netloc
        self._prefix = parts.path.rstrip("/")
        self._slots = asyncio.Semaphore(size)
        self._idle: list[tuple[_Connection, float]] = []  # with when each was last used
        self._timeout = timeout

    async def post(
        self, path: str, body: Any, headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        """POST ``body`` as JSON to ``path``; the answer's status and body."""
        data = json.dumps(body, separators=(",", ":")).encode()
        head = [
            f"POST {self._prefix}{path} HTTP/1.1",
            f"Host: {self._authority}",
            "Content-Type: application/json",
            f"Content-Length: {len(data)}",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        request = ("\r\n".join(head) + "\r\n\r\n").encode() + data
        async with self._slots, asyncio.timeout(self._timeout):
            reader, writer = await self._connection()
            try:
                writer.write(request)
                status, answer, keep = await _read_answer(reader)
            except BaseException:
                writer.close()
                raise
            if keep:
                self._idle.append(((reader, writer), time.monotonic()))
            else:
                writer.close()
            return status, answer

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for (_, writer), _ in idle:
            writer.close()
        for (_, writer), _ in idle:
            try:
                await writer.wait_closed()
            except OSError:
                pass

    async def _connection(self) -> _Connection:
        """The most recently used idle connection, or a new one."""
        while self._idle:
            connection, used = self._idle.pop()
            if time.monotonic() - used < IDLE_SECONDS:
                return connection
            connection[1].close()
        return await asyncio.open_connection(self._host, self._port)


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, whether the connection may be reused)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as err:
        raise HttpError("connection closed before an answer") from err
    status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    status = int(rest[:3])
    fields = {}
    for line in lines:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    keep = fields.get("connection", "").lower() != "close" and version == "HTTP/1.1"
    if "content-length" in fields:
        return status, await reader.readexactly(int(fields["content-length"])), keep
    if fields.get("transfer-encoding", "").lower() == "chunked":
        return status, await _read_chunks(reader), keep
    if status in (204, 304) or 100 <= status < 200:
        return status, b"", keep
    return status, await reader.read(), False  # delimited by the end of the connection


async def _read_chunks(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


@asynccontextmanager
async def http_client(base_url: str, size: int) -> AsyncIterator[Http]:
    """At most ``size`` requests in flight (and connections open) to ``base_url``."""
    client = Http(base_url, size)
    try:
        yield client
    finally:
        await client.close()
