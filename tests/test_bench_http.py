"""The load generators' HTTP client (bench/http.py) against a server on the wire that answers
in each way HTTP/1.1 allows: by Content-Length, in chunks, and by closing the connection."""

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from bench.http import Http, http_client

ANSWERS = {
    b"/length": b'HTTP/1.1 202 Accepted\r\nContent-Length: 11\r\n\r\n{"ok":true}',
    b"/chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'4\r\n{"ok\r\n7;ext=1\r\n":true}\r\n0\r\nX-Trailer: 1\r\n\r\n'
    ),
    b"/close": b'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n{"ok":false}',
}


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[dict[str, object]]]]:
    """The address of a server that records each request's body and connection."""
    seen: list[dict[str, object]] = []
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        mine = connections
        while head := await reader.readuntil(b"\r\n\r\n"):
            path = head.split(b" ")[1]
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            seen.append({"path": path, "body": json.loads(await reader.readexactly(length)),
                         "connection": mine})  # fmt: skip
            answer = path.removeprefix(b"/api")
            writer.write(ANSWERS[answer])
            await writer.drain()
            if answer == b"/close":
                writer.close()
                return

    listening = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield f"http://127.0.0.1:{port}/api", seen


async def test_answers_by_length_by_chunks_and_by_closing(
    server: tuple[str, list[dict[str, object]]],
) -> None:
    url, seen = server
    async with http_client(url, 1) as http:
        assert await http.post("/length", {"n": 1}, {"X-Test": "1"}) == (202, b'{"ok":true}')
        assert await http.post("/chunked", {"n": 2}) == (200, b'{"ok":true}')
        assert await http.post("/close", {"n": 3}) == (400, b'{"ok":false}')
        assert await http.post("/length", {"n": 4}) == (202, b'{"ok":true}')
    assert [s["body"] for s in seen] == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]
    assert seen[0]["path"] == b"/api/length"
    # Kept alive through both complete answers, a new connection after the server closed.
    assert [s["connection"] for s in seen] == [1, 1, 1, 2]


async def test_at_most_size_connections(server: tuple[str, list[dict[str, object]]]) -> None:
    url, seen = server
    http = Http(url, 3)
    try:
        await asyncio.gather(*(http.post("/length", {"n": n}) for n in range(30)))
    finally:
        await http.close()
    assert len(seen) == 30
    assert len({s["connection"] for s in seen}) <= 3
