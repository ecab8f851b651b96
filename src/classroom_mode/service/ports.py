"""A free TCP port: what `label --port 0`, the tests' servers and the benchmarks' servers bind to."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port no one listens on now (another process could still take it before the caller binds it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
