"""The labelling page: play each unlabeled clip in a loop, press one key for its mode, move on.

Labelling is a file move: `DATA/unlabeled/x.mp4` → `DATA/<mode>/x.mp4`, so the dataset stays
the folder layout everything else reads, and undo is the reverse move. "Delete" moves to
`DATA/.trash/`, never a real delete: a mislabelled clip is a nuisance, a lost one is gone.
Moves are renames inside one folder tree (atomic on POSIX), with the folder fsynced after.

A room that maps the room server's lesson phases to modes (`rooms.<room>.phase_labels`) gets a weak label
for each clip recorded during a mapped phase (`PhaseSuggestions`): the page shows it and Enter accepts it. It
is only ever a suggestion: a clip reaches the training data when the teacher has watched it and said so.

`mount_labelling` adds the page to any FastAPI app under `/label/`, its `LabelSession` in `app.state`;
`serve_labelling` runs it alone on 127.0.0.1 for the `label` command. POSTs from another
origin are refused (`same_origin`, declared once on the router of the routes that move clips), so a
web page open in the same browser cannot relabel the dataset, and requests naming any other host
than the one served are refused (Starlette's trusted-host check), so a DNS-rebinding page cannot
reach it under a name of its own either.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.middleware.trustedhost import TrustedHostMiddleware

from classroom_mode.config import Config
from classroom_mode.files import move_new
from classroom_mode.service.api.ports import LABEL_PORT, free_port
from classroom_mode.store import HistoryStore
from classroom_mode.video.dataset import TRASH_DIR, UNLABELED_DIR, is_label_dir, list_unlabeled_clips
from classroom_mode.video.sessions import camera_field, recorded_at, session_of

STATIC = Path(__file__).parent / "static"
KEYS = "123456789"


class Suggestion(BaseModel):
    """A weak label: the mode the room's config maps the lesson phase the clip was recorded in to."""

    mode: str
    phase: str


Suggest = Callable[[str], Suggestion | None]
"""A clip's file name → its weak label, if any."""


class PhaseSuggestions:
    """Weak labels from the lesson phases the room server announced, as the history store keeps them: a clip
    whose name says its camera and when it began, in a room with `phase_labels`, is suggested the mode its
    phase then maps to."""

    def __init__(self, config: Config, store: HistoryStore) -> None:
        self.store = store
        self.labels = {
            camera_field(camera): (room, settings.phase_labels)
            for room, settings in config.rooms.items()
            if settings.phase_labels
            for camera in settings.cameras
        }

    def __call__(self, clip: str) -> Suggestion | None:
        fields, at = session_of(Path(clip)), recorded_at(Path(clip))
        if fields is None or at is None or fields[0] not in self.labels:
            return None
        room, labels = self.labels[fields[0]]
        phase = self.store.phase_at(room, at)
        if phase is None or phase.phase not in labels:
            return None  # no phase announced yet when the clip began, or one the config does not map
        return Suggestion(mode=labels[phase.phase], phase=phase.phase)


def no_suggestions(clip: str) -> Suggestion | None:
    return None


@dataclass(frozen=True)
class Move:
    clip: str
    """The clip's name in `unlabeled/`, where undo puts it back."""
    moved_to: Path
    action: str


class LabelSession:
    """The queue of unlabeled clips of one DATA folder, the moves made, and undo. Thread-safe."""

    def __init__(self, data_dir: Path, modes: list[str], suggest: Suggest = no_suggestions) -> None:
        self.data_dir = data_dir
        self.modes = modes
        self.suggest = suggest
        self._lock = threading.Lock()
        self._queue = [p.name for p in list_unlabeled_clips(data_dir)]
        self._history: list[Move] = []
        self.message = ""

    @property
    def unlabeled(self) -> Path:
        return self.data_dir / UNLABELED_DIR

    def _take(self, clip: str) -> Path:
        if not self._queue or self._queue[0] != clip:
            raise HTTPException(409, f"{clip!r} is not the current clip (reload the page)")
        path = self.unlabeled / clip
        if not path.is_file():
            self._queue.pop(0)
            raise HTTPException(410, f"{clip!r} is no longer in {UNLABELED_DIR}/")
        return path

    def label(self, clip: str, mode: str) -> None:
        if mode not in self.modes:
            raise HTTPException(422, f"unknown mode {mode!r}")
        with self._lock:
            moved = move_new(self._take(clip), self.data_dir / mode)
            self._history.append(Move(self._queue.pop(0), moved, mode))
            self.message = f"{clip} → {mode}"

    def trash(self, clip: str) -> None:
        with self._lock:
            moved = move_new(self._take(clip), self.data_dir / TRASH_DIR)
            self._history.append(Move(self._queue.pop(0), moved, "trash"))
            self.message = f"{clip} → trash"

    def skip(self, clip: str) -> None:
        with self._lock:
            self._take(clip)
            self._queue.append(self._queue.pop(0))
            self._history.append(Move(clip, self.unlabeled / clip, "skip"))
            self.message = f"{clip} skipped"

    def undo(self) -> None:
        with self._lock:
            if not self._history:
                raise HTTPException(409, "nothing to undo")
            last = self._history.pop()
            if last.action == "skip":
                self._queue.insert(0, self._queue.pop())
            else:
                back = move_new(last.moved_to, self.unlabeled, last.clip)
                self._queue.insert(0, back.name)
            self.message = f"undid {last.action} of {last.clip}"

    def counts(self) -> dict[str, int]:
        """Clips per mode folder (configured modes first, then any other label folder found)."""
        found = [p.name for p in sorted(self.data_dir.iterdir()) if is_label_dir(p)]
        return {
            mode: sum(1 for p in (self.data_dir / mode).glob("*") if p.is_file() and not p.name.startswith("."))
            if (self.data_dir / mode).is_dir()
            else 0
            for mode in dict.fromkeys([*self.modes, *found])
        }

    def state(self) -> LabelState:
        with self._lock:
            clip = self._queue[0] if self._queue else None
            suggestion = self.suggest(clip) if clip is not None else None
            return LabelState(
                clip=clip,
                suggestion=suggestion if suggestion is not None and suggestion.mode in self.modes else None,
                remaining=len(self._queue),
                modes=[ModeKey(name=m, key=KEYS[i] if i < len(KEYS) else None) for i, m in enumerate(self.modes)],
                counts=self.counts(),
                can_undo=bool(self._history),
                message=self.message,
            )

    def clip_path(self, clip: str) -> Path:
        with self._lock:
            if clip not in self._queue:
                raise HTTPException(404, f"{clip!r} is not an unlabeled clip")
        return self.unlabeled / clip


class ModeKey(BaseModel):
    name: str
    key: str | None


class LabelState(BaseModel):
    clip: str | None
    """The clip to label now; None when every clip is done."""
    suggestion: Suggestion | None = None
    """The current clip's weak label, for the teacher to confirm."""
    remaining: int
    modes: list[ModeKey]
    counts: dict[str, int]
    can_undo: bool
    message: str


class ClipAction(BaseModel):
    clip: str
    mode: str | None = None


def same_origin(request: Request) -> None:
    """Refuse a request another origin's page sent: one open in the same browser must not relabel the dataset."""
    origin = request.headers.get("origin")
    if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host"):
        raise HTTPException(403, "cross-origin request refused")


def _session(request: Request) -> LabelSession:
    return request.app.state.labelling


Session = Annotated[LabelSession, Depends(_session)]

router = APIRouter(prefix="/label")
changes = APIRouter(dependencies=[Depends(same_origin)])
"""What moves clips: answered only to requests from the page's own origin."""


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC / "label.html", headers={"Cache-Control": "no-cache"})


@router.get("/clip/{clip}", include_in_schema=False)
def clip_file(clip: str, session: Session) -> FileResponse:
    return FileResponse(session.clip_path(clip))


@router.get("/api/state")
def state(session: Session) -> LabelState:
    return session.state()


@changes.post("/api/undo")
def undo(session: Session) -> LabelState:
    session.undo()
    return session.state()


@changes.post("/api/{action}")
def act(action: str, body: ClipAction, session: Session) -> LabelState:
    if action == "label":
        session.label(body.clip, body.mode or "")
    elif action == "skip":
        session.skip(body.clip)
    elif action == "trash":
        session.trash(body.clip)
    else:
        raise HTTPException(404, f"unknown action {action!r}")
    return session.state()


router.include_router(changes)


def mount_labelling(app: FastAPI, session: LabelSession) -> None:
    """Add the labelling page and its JSON API under `/label`, working on `session`."""
    app.state.labelling = session
    app.include_router(router)
    app.mount("/label/static", StaticFiles(directory=STATIC / "label"), name="label-static")


def create_label_app(
    data_dir: Path, modes: list[str], host: str = "127.0.0.1", suggest: Suggest = no_suggestions
) -> FastAPI:
    """The labelling app alone, answering only requests addressed to `host` (and `localhost` for a loopback one)."""
    app = FastAPI(title="classroom-mode labelling", docs_url=None, redoc_url=None)
    loopback = host in ("127.0.0.1", "::1", "localhost")
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=[host, *(["localhost", "127.0.0.1"] if loopback else [])])
    mount_labelling(app, LabelSession(data_dir, modes, suggest))

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/label/")

    return app


def serve_labelling(
    data_dir: Path,
    modes: list[str],
    *,
    host: str = "127.0.0.1",
    port: int = LABEL_PORT,
    announce: Callable[[str], None] = print,
    suggest: Suggest = no_suggestions,
) -> None:
    """Serve the labelling page until Ctrl+C."""
    import uvicorn

    port = port or free_port(host)
    announce(f"labelling {data_dir}: open http://{host}:{port}/label/  (Ctrl+C to stop)")
    uvicorn.run(create_label_app(data_dir, modes, host, suggest), host=host, port=port, log_level="warning")
