"""A real `classroom-mode serve` in its own process on a free loopback port, for the load benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from classroom_mode.service.api.ports import free_port


@contextmanager
def serve_subprocess(config: Path, start_timeout_s: float = 60.0) -> Iterator[str]:
    """`serve --no-encode` (a read-only API, no API token) until `/health` answers; yields its URL."""
    with server_process(config, start_timeout_s=start_timeout_s) as (url, _):
        yield url


@contextmanager
def server_process(
    config: Path, *, encode: bool = False, start_timeout_s: float = 60.0
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start the server (no API token; `encode` loads the backbone and probes for the POST endpoints), wait until
    `/health` answers, yield its URL and process, and stop it afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "classroom_mode", "-q", "serve", "--encode" if encode else "--no-encode",
         "--config", str(config), "--port", str(port)], env={**os.environ, "CLASSROOM_MODE_API_TOKEN": ""},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("server did not start") from None
                time.sleep(0.2)
        yield url, server
    finally:
        server.terminate()
        server.wait(timeout=10)
