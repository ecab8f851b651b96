"""API latency of `GET /api/rooms/{room}` under concurrent clients, on loopback, with a bounded load.

A real `classroom-mode serve --no-encode` runs in its own process over a history database holding a
room state; `--clients` asyncio clients each send `--requests` requests back to back. Prints a
markdown table (p50, p90, p99, max latency, throughput) and the machine it ran on.

    .venv/bin/python benchmarks/bench_api.py --clients 50 --requests 40
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

from classroom_mode.records import ModeState
from classroom_mode.store import HistoryStore
from doc_page import machine
from serve_process import serve_subprocess


def seed_store(path: Path) -> None:
    now = datetime.now(UTC)
    with HistoryStore(path) as store:
        store.set_state(
            ModeState(room="room-101", mode="group", display_name="Group", emoji="☕", ambience="café",
                      confidence=0.91, probabilities={"empty": 0.01, "solo": 0.03, "group": 0.91, "presentation": 0.05},
                      since=now, updated_at=now, cameras=["front", "corner"])
        )  # fmt: skip


async def client(url: str, requests: int, latencies: list[tuple[bool, float]]) -> None:
    """One client on one keep-alive connection; each latency is tagged with whether it opened the connection."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for i in range(requests):
            start = time.perf_counter()
            response = await http.get("/api/rooms/room-101")
            latencies.append((i == 0, time.perf_counter() - start))
            response.raise_for_status()


async def load(url: str, clients: int, requests: int) -> tuple[list[tuple[bool, float]], float]:
    latencies: list[tuple[bool, float]] = []
    start = time.perf_counter()
    await asyncio.gather(*(client(url, requests, latencies) for _ in range(clients)))
    return latencies, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=40, help="requests per client")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "history.db"
        seed_store(db)
        config = Path(tmp) / "c.yaml"
        config.write_text(
            f"rooms: {{room-101: {{cameras: {{front: {{}}, corner: {{}}}}}}}}\npaths: {{database: {db}}}\n"
        )
        with serve_subprocess(config) as url:
            asyncio.run(load(url, 5, 10))  # warm-up
            host = machine(f"Python {platform.python_version()}")
            latencies, wall = asyncio.run(load(url, args.clients, args.requests))
    print(f"### `GET /api/rooms/{{room}}`: {args.clients} concurrent clients × {args.requests} requests, loopback\n")
    print("| requests | p50 ms | p90 ms | p99 ms | max ms | requests/s |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = {
        "all": [s for _, s in latencies],
        "on an open connection (first request of each client excluded)": [s for first, s in latencies if not first],
    }
    for name, seconds in rows.items():
        ms = np.array(seconds) * 1000
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        print(
            f"| {name}: {len(ms)} | {p50:.1f} | {p90:.1f} | {p99:.1f} | {ms.max():.1f} | {len(latencies) / wall:.0f} |"
        )
    print(f"\nMachine: {host}; server (uvicorn, 1 worker) and clients share these cores.")


if __name__ == "__main__":
    main()
