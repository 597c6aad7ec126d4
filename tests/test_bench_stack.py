"""The bench's stack start-up: ports below the ephemeral range, and a dev server that dies at
start-up (its port taken) is started again on another."""

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import stack


def test_ports_are_free_distinct_and_below_the_ephemeral_range() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [stack.free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(stack.PORTS.start <= port < stack.PORTS.stop <= low for port in ports)


def test_a_dev_server_that_cannot_bind_is_started_again_on_another_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:  # bound, not listening: the server's bind fails
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        real = stack.free_port
        picks: Iterator[int] = iter([busy])
        monkeypatch.setattr(stack, "free_port", lambda: next(picks, None) or real())
        port, proc = stack.start_temporal(tmp_path)
    try:
        assert port != busy
        assert proc.poll() is None
        assert (tmp_path / "temporal-2.db").exists()
    finally:
        stack._stop(proc)
