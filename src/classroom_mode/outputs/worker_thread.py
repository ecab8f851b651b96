"""The daemon thread behind an output: a sink's delivery, the bus heartbeat, the sound pump."""

from __future__ import annotations

import threading
from collections.abc import Callable


class WorkerThread:
    """`target` on a daemon thread from `start` until `stop`; started again after a stop, it runs anew.

    `target` waits on `stopping` rather than sleeping, so that `stop` ends a wait (a backoff, an idle poll) at once.
    """

    def __init__(self, target: Callable[[], None], name: str) -> None:
        self._target, self._name = target, name
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self.stopping.clear()
        self._thread = threading.Thread(target=self._target, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float) -> None:
        """Ask `target` to end and wait up to `timeout_s` for it (a daemon still busy then cannot hold the process)."""
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            self._thread = None
