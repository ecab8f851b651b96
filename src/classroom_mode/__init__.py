"""classroom-mode: a camera becomes a sensor for how a room is being used (V-JEPA 2 features + a small probe)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("classroom-mode")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
