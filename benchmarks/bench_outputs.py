"""The outputs layer on loopback: latency from a store write to the receiver, backlog drain, broker kills.

    .venv/bin/python benchmarks/bench_outputs.py      # writes docs/benchmarks/outputs.md

- Latency: a mode change written to the store (`set_state`, one committed transaction) → the message at a paho
  subscriber of a real mosquitto, and a camera reading (`add_prediction`) → the body at a uvicorn bus receiver;
  one change at a time, the clock in this process around both ends.
- Drain: 10,000 readings written while the broker is down, then the broker started: seconds until the
  subscriber holds every one.
- Kills: readings written steadily while the broker is SIGKILLed and restarted 20 times; events lost = readings
  written that never reached the subscriber.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import paho.mqtt.client as mqtt
from fastapi import FastAPI, Request, Response

from classroom_mode.config import Config
from classroom_mode.outputs import Outputs
from classroom_mode.store import HistoryStore
from dashboard_helpers import serve
from doc_page import benchmark_page, machine, write_section
from live_helpers import wait_for
from outputs_helpers import Broker, Subscriber, mode_state, reading, started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def config_for(outputs: dict) -> Config:
    return Config.model_validate({"rooms": {"lab": {"cameras": {"cam": {}}}}, "outputs": outputs})


def latencies(
    write: Callable[[str], None], arrived: dict[str, float], got: threading.Event, changes: int
) -> list[float]:
    """Seconds from each `write(name)` to the receiver stamping `arrived[name]` and setting `got`, one change at a
    time; the first change is left out (it also waits for the sink's connection)."""
    seconds = []
    for i in range(changes + 1):
        got.clear()
        name = f"m{i}"
        started = time.perf_counter()
        write(name)
        if not got.wait(10):
            raise RuntimeError(f"change {i} did not arrive")
        if i:
            seconds.append(arrived[name] - started)
    return seconds


def mqtt_latency(work: Path, changes: int) -> list[float]:
    (work / "latency").mkdir()
    broker = Broker(work / "latency").start()
    arrived: dict[str, float] = {}
    got = threading.Event()

    def on_message(_client: object, _userdata: object, message: mqtt.MQTTMessage) -> None:
        arrived.setdefault(json.loads(message.payload)["mode"], time.perf_counter())
        got.set()

    subscriber = Subscriber(broker.port, ["classroom-mode/lab/mode"])
    subscriber.client.on_message = on_message
    with HistoryStore(work / "latency.db") as store:
        outputs = Outputs(config_for({"m": {"kind": "mqtt", "host": "127.0.0.1", "port": broker.port}}), store)
        outputs.start()
        try:
            return latencies(lambda mode: store.set_state(mode_state("lab", mode)), arrived, got, changes)
        finally:
            outputs.stop()
            subscriber.close()
            broker.kill()


def bus_latency(work: Path, changes: int) -> list[float]:
    arrived: dict[str, float] = {}
    got = threading.Event()
    app = FastAPI()

    @app.post("/push/state")
    async def push(request: Request) -> Response:
        label = (await request.json()).get("predicted_class")
        if label is not None:  # the last push on stop says `running: false` and carries no reading
            arrived[label] = time.perf_counter()
            got.set()
        return Response(status_code=200)

    os.environ["BENCH_BUS_KEY"] = "bench"
    with (
        serve(app) as url,
        HistoryStore(work / "bus.db") as store,
        started(Outputs(config_for({"b": {"kind": "bus", "url": url, "api_key_env": "BENCH_BUS_KEY"}}), store)),
    ):
        return latencies(lambda label: store.add_prediction(reading("cam", label)), arrived, got, changes)


def labels_at(subscriber: Subscriber) -> set[str]:
    return {json.loads(p)["label"] for p in subscriber.on("classroom-mode/lab/cam/reading")}


def drain(work: Path, backlog: int) -> dict[str, float]:
    (work / "drain").mkdir()
    broker = Broker(work / "drain").start()
    subscriber = Subscriber(broker.port, ["classroom-mode/lab/cam/reading"])
    with HistoryStore(work / "drain.db") as store:
        settings = {"kind": "mqtt", "host": "127.0.0.1", "port": broker.port, "max_backoff_s": 1.0}
        outputs = Outputs(config_for({"m": settings}), store)
        outputs.start()
        try:
            broker.kill()
            written = time.perf_counter()
            for i in range(backlog):
                store.add_prediction(reading("cam", f"r{i}"))
            write_s = time.perf_counter() - written
            broker.start()
            started = time.perf_counter()
            if not wait_for(lambda: len(labels_at(subscriber)) == backlog, 600):
                raise RuntimeError("the backlog did not drain within 600 s")
            drain_s = time.perf_counter() - started
        finally:
            outputs.stop()
            subscriber.close()
            broker.kill()
    return {"backlog": backlog, "write_s": write_s, "drain_s": drain_s}


def kills(work: Path, count: int, per_round: int) -> dict[str, int]:
    (work / "kills").mkdir()
    broker = Broker(work / "kills").start()
    subscriber = Subscriber(broker.port, ["classroom-mode/lab/cam/reading"])
    written = 0
    with HistoryStore(work / "kills.db") as store:
        settings = {"kind": "mqtt", "host": "127.0.0.1", "port": broker.port, "max_backoff_s": 0.5}
        outputs = Outputs(config_for({"m": settings}), store)
        outputs.start()
        try:
            for _ in range(count):
                for _ in range(per_round):
                    store.add_prediction(reading("cam", f"k{written}"))
                    written += 1
                    time.sleep(0.002)
                broker.kill()
                for _ in range(per_round // 2):  # written while the broker is down
                    store.add_prediction(reading("cam", f"k{written}"))
                    written += 1
                broker.start()  # the subscriber's persistent session gets what was sent while it reconnected
            # what has not arrived by then is counted as lost below
            wait_for(lambda: outputs.statuses()[0].pending == 0, 120)
            wait_for(lambda: len(labels_at(subscriber)) >= written, 30)
        finally:
            outputs.stop()
            subscriber.close()
            broker.kill()
    received = labels_at(subscriber)
    lost = sum(f"k{i}" not in received for i in range(written))
    return {"kills": count, "written": written, "lost": lost}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--out", type=Path, default=benchmark_page("outputs"))
    args = parser.parse_args()
    host = machine()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        mqtt = mqtt_latency(work, args.changes)
        bus = bus_latency(work, args.changes)
        backlog = drain(work, args.backlog)
        killed = kills(work, args.kills, per_round=50)
    load_after = os.getloadavg()[0]
    rows = [
        f"| store → MQTT subscriber (mode change) | {len(mqtt)} | {1000 * statistics.median(mqtt):.1f} | "
        f"{1000 * percentile(mqtt, 0.99):.1f} |",
        f"| store → bus receiver (reading) | {len(bus)} | {1000 * statistics.median(bus):.1f} | "
        f"{1000 * percentile(bus, 0.99):.1f} |",
    ]
    text = f"""A real mosquitto 2.0 and a uvicorn receiver on loopback, the outputs layer in one process with its store
(`benchmarks/bench_outputs.py`). Load average {load_after:.1f} at the end.

| path | changes | p50 (ms) | p99 (ms) |
|---|---|---|---|
{chr(10).join(rows)}

Backlog: {backlog["backlog"]:,} readings written while the broker was down ({backlog["write_s"]:.1f} s to write),
then the broker started: all of them at the subscriber {backlog["drain_s"]:.1f} s later.

Broker kills: {killed["kills"]} SIGKILLs and restarts while {killed["written"]:,} readings were written (a third
of them while the broker was down): **{killed["lost"]} lost**.
"""
    write_section(args.out, "bench_outputs", text, host=host)


if __name__ == "__main__":
    main()
