"""Make the README's picture of the dashboard from a real run: `docs/images/dashboard.png`.

It records a few labelled clips in a simulated classroom and trains that room's probe with the real commands,
starts `classroom-mode serve --live` on 127.0.0.1 watching two simulated rooms (one holding a group, one a
presentation), waits until both rooms show a mode and a camera frame, and photographs the page in headless
Chromium (Debian's, driven by Playwright as the browser tests drive it). Run it again when the page changes:

    .venv/bin/python scripts/screenshot_dashboard.py

About a minute on 2 cores. Nothing is kept but the picture.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from PIL import Image
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_helpers import CHROMIUM, launch  # noqa: E402
from classroom_mode.service.api.ports import free_port  # noqa: E402
from classroom_mode.sim.room_dataset import SettledClips, generate_room_dataset  # noqa: E402

ROOM_SEED = 10_000
"""The simulated classroom the clips are recorded in and both cameras watch."""
ROOMS = {"room-101": ("front", "group:900"), "room-102": ("board", "presentation:900")}
"""Each room's camera and the timeline it plays (one mode held for the whole run)."""
SIZE = 256
"""Pixels a side of the recorded clips and of the cameras' frames."""
CLIPS_PER_MODE = 8
VIEWPORT = {"width": 1240, "height": 600}
"""Wide enough for two rooms side by side; the picture is as tall as the page."""
COLOURS = 96
"""The PNG is saved with this many colours: a dashboard is flat colour, and the file stays small in the repo."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "dashboard.png")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for both rooms to show a mode")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} not found: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="classroom-mode-screenshot-") as folder:
        work = Path(folder)
        config = _config(work)
        _record_and_train(work, config)
        port = free_port()
        log = work / "serve.log"
        with _serving(config, port, log) as server:
            url = f"http://127.0.0.1:{port}/"
            _wait_for_modes(url, args.timeout, server, log)
            _photograph(url, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


def _config(work: Path) -> Path:
    """Two rooms on 127.0.0.1, each with one simulated camera and the probe trained below; no upload token, as
    nobody else can reach the server."""
    camera = {"interval_s": 2.0, "clip": {"frames": 16, "seconds": 3.0}}
    source = {"kind": "sim", "seed": ROOM_SEED, "fps": 8.0, "width": SIZE, "height": SIZE}
    rooms = {
        room: {
            "cameras": {name: {**camera, "source": {**source, "timeline": timeline}}},
            "probe": str(work / "probe"),
        }
        for room, (name, timeline) in ROOMS.items()
    }
    config = {
        "rooms": rooms,
        "paths": {
            "data": str(work / "data"),
            "cache": str(work / "cache"),
            "database": str(work / "history.db"),
            "probes": str(work),
        },
        "server": {"api_token_env": None},
    }
    path = work / "classroom-mode.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _record_and_train(work: Path, config: Path) -> None:
    """Labelled clips recorded in the room, then `classroom-mode train` on them, as a user would."""
    recording = SettledClips(CLIPS_PER_MODE, seed=ROOM_SEED, seconds=3.0, fps=8.0, size=(SIZE, SIZE))
    generate_room_dataset(work / "data", recording, camera_id="front")
    command = [sys.executable, "-m", "classroom_mode", "train", str(work / "data"), "--out", str(work / "probe")]
    subprocess.run([*command, "--folds", "0", "-c", str(config)], check=True, stdout=subprocess.DEVNULL)


@contextlib.contextmanager
def _serving(config: Path, port: int, log: Path):
    """`classroom-mode serve --live` in its own process, its output in `log`, stopped (Ctrl-C, then a kill) on the
    way out."""
    command = [sys.executable, "-m", "classroom_mode", "serve", "--live", "-c", str(config), "--port", str(port)]
    with log.open("w", encoding="utf-8") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield server
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_for_modes(url: str, timeout_s: float, server: subprocess.Popen, log: Path) -> None:
    """Until every room has a mode that is not `uncertain` (the room model needs a few windows to accept one)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            states = httpx.get(f"{url}api/rooms", timeout=5).json()
            if len(states) == len(ROOMS) and all(state["mode"] != "uncertain" for state in states):
                return
        time.sleep(1.0)
    why = "the server stopped" if server.poll() is not None else f"no mode within {timeout_s:.0f} s"
    with contextlib.suppress(httpx.HTTPError):
        why += f"; its latest readings: {httpx.get(f'{url}api/predictions?limit=6', timeout=5).text}"
    sys.exit(f"{why}; the server said:\n{log.read_text(encoding='utf-8')[-2000:]}")


def _photograph(url: str, out: Path) -> None:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url)
        page.wait_for_selector("main[aria-busy=false]")
        page.wait_for_selector('#live[data-state="live"]')
        page.wait_for_function(
            f"() => [...document.querySelectorAll('img.thumb')].filter(i => i.naturalWidth > 0).length >= {len(ROOMS)}"
        )
        shot = out.with_suffix(".raw.png")
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(shot) as image:
        image.convert("RGB").quantize(COLOURS).save(out, optimize=True)
    shot.unlink()


if __name__ == "__main__":
    main()
