"""A free TCP port: what `label --port 0`, the tests' servers and the benchmarks' servers bind to."""

from __future__ import annotations

import socket

LABEL_PORT = 8767
"""The labelling page's default port: beside the dashboard's 8765, and off 8766, where the class's Python room
server listens."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port no one listens on now (another process could still take it before the caller binds it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
