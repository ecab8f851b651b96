"""The SQLite history: round trips, change detection, the event log, retention, and durability under SIGKILL."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import timedelta

import pytest

from classroom_mode.config import RetentionConfig
from classroom_mode.errors import ClassroomModeError, UserError
from classroom_mode.records import CameraStatus, ModeState, SurpriseReading
from classroom_mode.store import SCHEMA_VERSION, HistoryStore
from live_helpers import T0, one_hot, reading

MODES = ["lab", "exam"]


def mode_state(room: str, mode: str, at=T0, confidence: float = 0.9) -> ModeState:
    return ModeState(
        room=room, mode=mode, display_name=mode.title(), emoji="❔", ambience="x", confidence=confidence,
        probabilities={mode: confidence}, since=at, updated_at=at, cameras=["a"],
    )  # fmt: skip


@pytest.fixture
def store(tmp_path):
    with HistoryStore(tmp_path / "h.db") as s:
        yield s


def test_predictions_newest_first_and_filtered(store):
    for i in range(5):
        store.add_prediction(reading("a" if i % 2 else "b", T0 + timedelta(seconds=i), one_hot("lab", MODES)))
    latest = store.predictions(limit=3)
    assert [p.at for p in latest] == [T0 + timedelta(seconds=s) for s in (4, 3, 2)]
    assert {p.camera_id for p in store.predictions(camera_id="a")} == {"a"}
    assert len(store.predictions(camera_id="a")) == 2
    assert store.predictions(camera_id="nobody") == []
    assert latest[0] == reading("b", T0 + timedelta(seconds=4), one_hot("lab", MODES))


def test_state_changes_are_logged_only_on_change(store):
    assert store.set_state(mode_state("r1", "lab")).previous is None
    assert store.set_state(mode_state("r1", "lab", T0 + timedelta(seconds=10), 0.95)) is None
    change = store.set_state(mode_state("r1", "exam", T0 + timedelta(seconds=20)))
    assert (change.room, change.mode, change.previous, change.at) == ("r1", "exam", "lab", T0 + timedelta(seconds=20))
    store.set_state(mode_state("r2", "exam"))
    assert store.state("r1").mode == "exam" and store.state("r1").confidence == 0.9
    assert store.state("nope") is None
    assert [s.room for s in store.states()] == ["r1", "r2"]
    assert [c.mode for c in store.mode_changes("r1")] == ["lab", "exam"]
    assert [c.mode for c in store.mode_changes("r1", since=T0 + timedelta(seconds=5))] == ["exam"]
    assert len(store.mode_changes()) == 3


def test_camera_transitions(store):
    def status(online: bool, at) -> CameraStatus:
        return CameraStatus(camera_id="a", room="r1", online=online, since=at, last_frame_at=at)

    assert store.set_camera_status(status(True, T0))
    assert not store.set_camera_status(status(True, T0 + timedelta(seconds=5)))
    assert store.set_camera_status(status(False, T0 + timedelta(seconds=9)))
    assert [c.online for c in store.camera_transitions("a")] == [True, False]
    assert store.cameras() == [status(False, T0 + timedelta(seconds=9))]


def test_surprise_alerts_become_events(store):
    for i, level in enumerate(["normal", "unusual", "normal", "anomaly"]):
        store.add_surprise(
            SurpriseReading(camera_id="a", at=T0 + timedelta(seconds=i), energy=1.0 + i, score=float(i), level=level)
        )
    assert [s.level for s in store.surprise(limit=2)] == ["anomaly", "normal"]
    events = store.events()
    assert [(e.kind, e.record.level) for e in events] == [("surprise", "unusual"), ("surprise", "anomaly")]
    assert store.events(after=events[0].id) == events[1:]
    assert store.last_event_id() == events[-1].id


def test_event_log_interleaves_kinds_in_write_order(store):
    store.set_camera_status(CameraStatus(camera_id="a", room="r1", online=True, since=T0))
    store.set_state(mode_state("r1", "lab"))
    store.add_surprise(SurpriseReading(camera_id="a", at=T0, energy=9.0, score=7.0, level="anomaly"))
    assert [e.kind for e in store.events()] == ["camera", "mode", "surprise"]


def test_prune_and_retention(store):
    now = T0 + timedelta(days=100)
    store.add_prediction(reading("a", T0, one_hot("lab", MODES)))
    store.add_prediction(reading("a", now, one_hot("lab", MODES)))
    store.set_state(mode_state("r1", "lab", T0))
    assert store.apply_retention(RetentionConfig(history_days=None), now) == 0
    assert store.apply_retention(RetentionConfig(history_days=90), now) == 2  # old prediction + old mode change
    assert [p.at for p in store.predictions()] == [now]
    assert store.mode_changes() == []
    assert store.state("r1") is not None  # the current state is not history


def test_survives_reopen(tmp_path):
    with HistoryStore(tmp_path / "h.db") as s:
        s.set_state(mode_state("r1", "lab"))
    with HistoryStore(tmp_path / "h.db") as s:
        assert s.state("r1").mode == "lab"


def test_threads_write_concurrently(store):
    def writer(camera: str) -> None:
        for i in range(25):
            store.add_prediction(reading(camera, T0 + timedelta(seconds=i), one_hot("lab", MODES)))
            store.set_state(mode_state(f"room-{camera}", "lab" if i % 2 else "exam"))

    threads = [threading.Thread(target=writer, args=(c,)) for c in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.predictions(limit=1000)) == 100
    assert len(store.mode_changes()) == 100


def test_rejects_foreign_files(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(UserError, match=r"junk\.db: not a classroom-mode history"):
        HistoryStore(junk)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(UserError, match="not a classroom-mode history"):
        HistoryStore(other)
    newer = tmp_path / "newer.db"
    sqlite3.connect(newer).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(UserError, match="newer"):
        HistoryStore(newer)


WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    from classroom_mode.records import Prediction, ModeState
    from classroom_mode.store import HistoryStore

    store = HistoryStore(sys.argv[1])
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    i = 0
    while True:
        at = t0 + timedelta(seconds=i)
        store.add_prediction(Prediction(camera_id="a", at=at, label="lab", confidence=1.0, probabilities={"lab": 1.0}))
        store.set_state(ModeState(room="r", mode=f"m{i % 3}", display_name="M", emoji="x", ambience="y",
                                  confidence=1.0, probabilities={}, since=at, updated_at=at, cameras=["a"]))
        print(i, flush=True)  # row i and its state change are committed
        i += 1
    """
)


def test_sigkill_mid_write_keeps_every_committed_row(tmp_path):
    path = tmp_path / "h.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    committed = -1
    try:
        while committed < 150:
            committed = int(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with HistoryStore(path) as store:
        rows = store.predictions(limit=100_000)
        # every row the writer reported committed is there; at most the in-flight ones beyond
        assert len(rows) >= committed + 1
        assert [p.at for p in rows[::-1]][: committed + 1] == [
            T0.replace(hour=0) + timedelta(seconds=i) for i in range(committed + 1)
        ]
        assert len(store.mode_changes("r")) >= committed + 1
        store.add_prediction(reading("a", T0, one_hot("lab", MODES)))  # and it is writable again


def test_a_history_with_damaged_pages_is_refused_on_open_naming_the_file(tmp_path):
    path = tmp_path / "h.db"
    with HistoryStore(path) as store:
        for i in range(300):  # enough rows for several pages of the predictions table
            store.add_prediction(reading("cam", T0 + timedelta(seconds=i), one_hot("lab", MODES)))
    data = bytearray(path.read_bytes())
    page = 4096
    data[6 * page : 6 * page + 512] = b"\xa5" * 512  # scribble over a page in the middle of the table
    path.write_bytes(data)
    with pytest.raises(UserError, match=rf"{path}: the history database is damaged \(.*\); move it aside"):
        HistoryStore(path)


def test_close_waits_for_a_statement_running_in_another_thread_and_later_use_is_a_clear_error(tmp_path):
    """Closing a connection under a running statement crashes SQLite; close must wait for the reader instead."""
    store = HistoryStore(tmp_path / "h.db")
    reading, release, closed = threading.Event(), threading.Event(), threading.Event()

    def reader() -> None:
        with store._db.use() as conn:  # a statement in flight in another thread, as a bot worker thread has
            conn.execute("SELECT count(*) FROM events").fetchone()
            reading.set()
            release.wait(10)

    worker = threading.Thread(target=reader)
    worker.start()
    assert reading.wait(10)
    closer = threading.Thread(target=lambda: (store.close(), closed.set()))
    closer.start()
    assert not closed.wait(0.3), "close returned while another thread still used its connection"
    release.set()
    assert closed.wait(10)
    worker.join()
    closer.join()
    with pytest.raises(ClassroomModeError, match="history store is closed"):
        store.states()
