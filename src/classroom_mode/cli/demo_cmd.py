"""`classroom-mode demo`: the whole system, offline, on simulated footage (the README's main job).

It chains the real verbs: `simulate` renders a labelled dataset, `train` embeds it with the
project's own small V-JEPA model and cross-validates the probe, then the live loop watches a
simulated classroom whose use changes on a timeline, with the dashboard served beside it, and
every mode change is printed next to what was really happening.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml

from classroom_mode.cli import probe_cmd
from classroom_mode.cli.options import JsonOption
from classroom_mode.cli.output import console, info, print_json, print_skipped, progress_bar, styled
from classroom_mode.config import (
    SHIPPED_MODEL_ID,
    BackboneConfig,
    CameraConfig,
    ClipSettings,
    Config,
    HmmSettings,
    MqttOutput,
    PathsConfig,
    RoomConfig,
    ServerConfig,
    SimSourceConfig,
    Thresholds,
    load_config,
)
from classroom_mode.errors import ClassroomModeError, UserError
from classroom_mode.model.probe_settings import ProbeSettings
from classroom_mode.sim.demo_room import CLIP_FPS, CLIP_SECONDS, CLIP_SIZE, FULL, SMALL, Preset, room_seed

if TYPE_CHECKING:
    from classroom_mode.modes.scoring import FollowScore
    from classroom_mode.records import ModeChange, ModeState
    from classroom_mode.service.live.demo import SimulatedCameras
    from classroom_mode.service.live.loop import LiveLoop

ROOM, CAMERA = "demo-room", "sim-cam"
DEMO_BROKER = "127.0.0.1:1883"


ServeOption = Annotated[bool, typer.Option("--serve/--no-serve", help="serve the dashboard during the live part")]
SmallOption = Annotated[
    bool, typer.Option("--small", help="a smaller, faster run: 16 clips per mode and a shorter timeline")
]
OutOption = Annotated[Path, typer.Option("--out", help="folder for the dataset, probe, config and history")]
PortOption = Annotated[int, typer.Option("--port", min=1, max=65535, help="dashboard port")]
KeepServingOption = Annotated[
    bool, typer.Option("--keep-serving", help="keep the dashboard up after the run, until Ctrl-C")
]
MinAgreementOption = Annotated[
    float | None, typer.Option("--min-agreement", min=0, max=1, help="exit 1 if the live agreement is lower")
]
DemoSeedOption = Annotated[int, typer.Option("--seed", help="seed of the dataset, the probe and the live room")]
MqttOption = Annotated[
    str, typer.Option("--mqtt", help="HOST:PORT of an MQTT broker: the room's events go there when it answers")
]
DemoModelOption = Annotated[
    str, typer.Option("--model", "-m", help="backbone (default: the project's own small V-JEPA model)")
]


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(  # noqa: PLR0913 -- a Typer command: one parameter per option
    serve: ServeOption = True,
    small: SmallOption = False,
    out: OutOption = Path("demo-output"),
    port: PortOption = 8765,
    keep_serving: KeepServingOption = False,
    min_agreement: MinAgreementOption = None,
    seed: DemoSeedOption = 0,
    mqtt: MqttOption = DEMO_BROKER,
    model: DemoModelOption = SHIPPED_MODEL_ID,
    erase_room: probe_cmd.EraseRoomOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the whole pipeline offline on simulated footage and report how well it agrees with ground truth."""
    run = DemoRun(SMALL if small else FULL, out, seed, model, mqtt, erase_room)
    outcome = run_demo(run, LiveView(serve, port, keep_serving), tables_to_stderr=as_json)
    if as_json:
        print_json(outcome.summary())
    else:
        _print_outcome(outcome)
    agreement = outcome.scores["agreement"]
    if min_agreement is not None and agreement < min_agreement:
        raise ClassroomModeError(f"agreement {agreement:.2f} is below --min-agreement {min_agreement}")


@dataclass(frozen=True)
class DemoRun:
    """What a demo run records, trains and watches, and where it writes it all."""

    preset: Preset
    out: Path
    seed: int
    model: str
    mqtt: str
    """HOST:PORT of the broker the room's events go to when it answers."""
    erase_room: str | None = None


@dataclass(frozen=True)
class LiveView:
    """How the live part can be watched: the dashboard on 127.0.0.1:`port`, and whether it outlives the run."""

    serve: bool = False
    port: int = 8765
    keep_serving: bool = False


@dataclass(frozen=True)
class DemoOutcome:
    """How well the live part agreed with the simulator's truth, and how long each step took."""

    scores: dict[str, Any]
    """Agreement over all windows and the settled ones, each beside its chance level, and the mode changes."""
    following: FollowScore
    timings: dict[str, float]
    """Wall seconds of each step and of the whole run."""
    out: Path
    config_path: Path

    def summary(self) -> dict[str, Any]:
        """What `--json` prints."""
        return {
            **self.scores,
            "following": self.following.as_json(),
            "timings_s": {k: round(v, 1) for k, v in self.timings.items()},
            "output": str(self.out),
        }


def run_demo(run: DemoRun, view: LiveView, *, tables_to_stderr: bool = False) -> DemoOutcome:
    """The demo's three steps in order, each timed: record the labelled clips, embed them and train the probe, run
    the live loop on the same room and score it; `tables_to_stderr` keeps stdout for a summary printed after."""
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(step: str) -> None:
        timings[step] = time.perf_counter() - started - sum(timings.values())

    config_path, config = _configure(run)
    info(
        styled(
            ("1/3", "bold"),
            f" recording {run.preset.clips_per_mode} labelled clips per mode in a simulated classroom "
            f"into {run.out / 'data'} (as you would in your own room)",
        )
    )
    _record(run.out / "data", run.preset, room_seed(run.seed))
    lap("record")
    info(
        styled(
            ("2/3", "bold"),
            " embedding them with the small V-JEPA model, cross-validating (one recording session "
            "never on both sides) and training the probe",
        )
    )
    with contextlib.redirect_stdout(sys.stderr) if tables_to_stderr else contextlib.nullcontext():
        _train_probe(run.out / "data", config, run.seed, run.erase_room)
    lap("embed + train")
    info(styled(("3/3", "bold"), f" the live loop on a simulated classroom: {run.preset.timeline} (scene seconds)"))
    scores, following = _live(config, run.preset, view)
    lap("live")
    timings["total"] = time.perf_counter() - started
    return DemoOutcome(scores, following, timings, run.out, config_path)


def _configure(run: DemoRun) -> tuple[Path, Config]:
    """The run's config written into its folder, with an MQTT sink when a broker answers (and a line saying which)."""
    broker = _reachable_broker(run.mqtt)
    config_path = _write_config(run.out, run.preset, run.seed, run.model, broker)
    config = load_config(config_path)
    if broker is not None:
        topics = f"classroom-mode/{ROOM}/..."
        info(f"the room's events go to the MQTT broker at {run.mqtt} (topics {topics}, Home Assistant discovery on)")
    else:
        info(
            f"no MQTT broker answers at {run.mqtt}, so the room's events go nowhere but the dashboard: start one "
            "(apt install mosquitto) and run the demo again, or see the README's 'Make the room react'"
        )
    return config_path, config


def _print_outcome(outcome: DemoOutcome) -> None:
    scores = outcome.scores
    console.print(
        styled(
            (f"agreement with ground truth: {scores['agreement']:.0%}", "bold"),
            f" of {scores['windows']} windows (always answering the commonest mode would get {scores['chance']:.0%}); ",
            (f"{scores['settled_agreement']:.0%}", "bold"),
            f" of the {scores['settled_windows']} windows when the room "
            f"had settled, nobody walking in or out (chance {scores['settled_chance']:.0%}); "
            f"total {outcome.timings['total']:.0f} s",
        )
    )
    for line in outcome.following.lines():
        console.print(line, highlight=False)
    console.print(f"everything is in {outcome.out}/; look again with: classroom-mode serve -c {outcome.config_path}")


def _train_probe(data: Path, config: Config, seed: int, erase_room: str | None) -> None:
    """The room's probe, trained as `classroom-mode train DATA --group-by session` would train it."""
    from classroom_mode.model.probes import save_probe

    probe_path = config.rooms[ROOM].probe
    assert probe_path is not None  # the demo's own config names it
    backbone, labelled = probe_cmd.labelled_features(data, None, config, erase_room)
    settings = ProbeSettings(config.thresholds.uncertain_below, group_by="session", seed=seed)
    result = probe_cmd.fit_room_probe(labelled, backbone, config, settings, data_dir=data)
    tensors_path, _ = save_probe(result.probe, probe_path)
    if result.report is not None:
        probe_cmd.print_report(result.report)
    info(f"{result.probe.kind} probe written to {tensors_path}")
    print_skipped(labelled.skipped)


def _reachable_broker(address: str) -> tuple[str, int] | None:
    """(host, port) when something accepts a TCP connection there within a moment, else None."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--mqtt {address}: expected HOST:PORT, e.g. {DEMO_BROKER}")
    try:
        with socket.create_connection((host, int(port)), timeout=0.3):
            return host, int(port)
    except OSError:
        return None


def _write_config(out: Path, preset: Preset, seed: int, model: str, broker: tuple[str, int] | None = None) -> Path:
    """The demo's own config: one room, one simulated camera (the room the clips were recorded in), all inside `out`,
    and an MQTT sink when a broker answered."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    camera = CameraConfig(
        source=SimSourceConfig(
            kind="sim",
            timeline=preset.timeline,
            seed=room_seed(seed),
            fps=CLIP_FPS,
            width=CLIP_SIZE[0],
            height=CLIP_SIZE[1],
        ),
        interval_s=preset.scene_interval_s / preset.speed,
        clip=ClipSettings(frames=16, seconds=CLIP_SECONDS),
        offline_after_s=30.0,
    )
    config = Config(
        rooms={ROOM: RoomConfig(cameras={CAMERA: camera}, probe=out / "probe.safetensors")},
        backbone=BackboneConfig(model=model),
        paths=PathsConfig(data=out / "data", cache=out / "cache", database=out / "history.db", probes=out),
        # a simulated room served on 127.0.0.1: no token, chosen here in the open (`serve` says so when it starts)
        server=ServerConfig(api_token_env=None),
        # the camera's interval is in wall seconds of a scene played `speed` times faster: so is a mode's dwell
        thresholds=Thresholds(hmm=HmmSettings(dwell_s=HmmSettings().dwell_s / preset.speed)),
        outputs={"mqtt": MqttOutput(kind="mqtt", host=broker[0], port=broker[1])} if broker else {},
    )
    path = out / "classroom-mode.yaml"
    header = "# Written by `classroom-mode demo`: its camera plays a simulated room faster than real time.\n"
    body = yaml.safe_dump(config.model_dump(mode="json", exclude_unset=True), allow_unicode=True, sort_keys=False)
    path.write_text(header + body, encoding="utf-8")
    return path


def _record(data: Path, preset: Preset, room_seed: int) -> None:
    """Record the labelled clips in the demo room, or reuse the ones a previous run recorded with the same settings."""
    from classroom_mode.sim.manifest import previous_recording, recorded_with
    from classroom_mode.sim.room_dataset import SettledClips, generate_room_dataset

    recording = SettledClips(preset.clips_per_mode, seed=room_seed, seconds=CLIP_SECONDS, fps=CLIP_FPS, size=CLIP_SIZE)
    previous = previous_recording(data)
    if recorded_with(previous, recording.params):
        info("  (reusing the clips a previous run recorded)")
        return
    if previous is not None:
        # an earlier demo run with other settings: its clips (only those its manifest lists) would mix in
        inside = data.resolve()
        for clip in previous.clips:
            path = (data / clip.path).resolve()
            if path.suffix == ".mp4" and path.is_relative_to(inside):
                path.unlink(missing_ok=True)
    with progress_bar("recording clips", total=None) as (bar, task):
        generate_room_dataset(
            data,
            recording,
            camera_id=CAMERA,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )


def _live(config: Config, preset: Preset, view: LiveView) -> tuple[dict[str, Any], FollowScore]:
    """The live loop on the demo room's simulated camera for the whole timeline, with the dashboard beside it when
    asked for; each window scored against the simulator's truth."""
    from classroom_mode.modes.scoring import score_following
    from classroom_mode.service.analysis import load_local_encoder
    from classroom_mode.service.live.demo import SimulatedCameras, agreement, commonest_share, score_windows
    from classroom_mode.service.live.loop import LiveLoop
    from classroom_mode.sim.stream import parse_timeline
    from classroom_mode.store import HistoryStore

    database = config.paths.database
    for stale in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        stale.unlink(missing_ok=True)  # the demo's own history from an earlier run, not a user's
    segments = parse_timeline(preset.timeline)
    scene_seconds = sum(seconds for _, seconds in segments)
    windows = int(scene_seconds // preset.scene_interval_s)
    encoder = load_local_encoder(config)
    cameras = SimulatedCameras(preset.speed)
    with HistoryStore(database) as store:
        loop = LiveLoop(config, store, encoder, feeds=cameras)
        loop.on_change = _announcer(loop, cameras)
        dashboard = _start_dashboard(config, store, encoder, loop, view.port) if view.serve else None
        try:
            loop.run(windows)
            predictions = store.predictions(camera_id=CAMERA, limit=windows + 10)
            changes = store.mode_changes(ROOM)
            tap = cameras.taps[CAMERA]
            scored = score_windows(predictions, changes, tap, CLIP_SECONDS)
            following = score_following(scored, tap.changes(), preset.scene_interval_s)
            if dashboard is not None and view.keep_serving:
                info(f"dashboard still at http://127.0.0.1:{view.port}/ — Ctrl-C to stop")
                _wait_for_interrupt()
        finally:
            if dashboard is not None:  # stopped before the store it reads is closed
                server, thread = dashboard
                server.should_exit = True
                thread.join(timeout=10)
    if not scored:
        raise ClassroomModeError("the live loop produced no readings to score (see the log above)")
    settled = [w for w in scored if w.settled]
    return {
        "agreement": agreement(scored),
        "windows": len(scored),
        "chance": commonest_share(scored),
        "settled_agreement": agreement(settled),
        "settled_windows": len(settled),
        "settled_chance": commonest_share(settled),
        "mode_changes": len(changes),
    }, following


def _announcer(loop: LiveLoop, cameras: SimulatedCameras):
    def announce(change: ModeChange, state: ModeState) -> None:
        clip = loop.last_clip(CAMERA)
        tap = cameras.taps.get(CAMERA)
        truth = tap.truth(clip.ended_at) if clip is not None and clip.ended_at is not None and tap else None
        verdict: str | tuple[str, str] = (
            "" if truth is None else (("  ✓ truth", "green") if truth == state.mode else (f"  ✗ truth: {truth}", "red"))
        )
        scene = tap.scene_time(clip.ended_at) if clip is not None and clip.ended_at is not None and tap else None
        when = f"scene {scene:5.0f} s" if scene is not None else change.at.strftime("%H:%M:%S")
        info(
            styled(
                f"  {when}  {state.emoji} {state.display_name} → {state.ambience} (confidence {state.confidence:.2f})",
                verdict,
            )
        )

    return announce


def _start_dashboard(
    config: Config, store: Any, encoder: Any, loop: LiveLoop, port: int
) -> tuple[Any, threading.Thread]:
    """Serve the API and dashboard on 127.0.0.1 in a background thread; returns the uvicorn server and its thread."""
    import uvicorn

    from classroom_mode.service.api.app import create_app
    from classroom_mode.service.api.dashboard import mount_dashboard

    app = create_app(config, store, encoder=encoder)
    mount_dashboard(app, live=loop)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="dashboard", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise ClassroomModeError(f"the dashboard could not start on 127.0.0.1:{port} (in use? try --port)")
    info(styled((f"dashboard: http://127.0.0.1:{port}/", "bold")))
    return server, thread


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
