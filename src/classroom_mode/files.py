"""Writing files so that a crash never leaves half of one under its real name: the one home of "write, fsync,
rename" for every layer.

A file is written under a hidden temporary name unique to this writer (`.NAME.<random>.partial` beside it, so
two writers never share one and dataset scans skip it), flushed and fsynced, renamed over the target, and the
folder is fsynced so the rename itself survives a power cut. A reader sees the old file or the whole new one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

PARTIAL_SUFFIX = ".partial"
_UMASK = os.umask(0)
os.umask(_UMASK)
"""The process's umask, read once at import: temporary files are created private (0600, 0700) and are given the
permissions a plain `open` or `mkdir` would have given them before they take the real name."""


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def temporary_beside(path: Path, *, directory: bool = False) -> Path:
    """A new hidden name beside `path` for it to be written under (a file or, with `directory`, a folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = f".{path.name}.", PARTIAL_SUFFIX
    if directory:
        folder = Path(tempfile.mkdtemp(dir=path.parent, prefix=prefix, suffix=suffix))
        folder.chmod(0o777 & ~_UMASK)
        return folder
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    os.fchmod(handle, 0o666 & ~_UMASK)
    os.close(handle)
    return Path(name)


def commit(temporary: Path, path: Path) -> Path:
    """fsync a finished temporary file, rename it over `path`, fsync the folder; returns `path`."""
    fsync_file(temporary)
    os.replace(temporary, path)
    fsync_dir(path.parent)
    return path


@contextmanager
def written_path(path: Path) -> Iterator[Path]:
    """A temporary path for a library that writes by name (safetensors, PyAV); committed to `path` when the block
    ends, removed if it raises."""
    temporary = temporary_beside(path)
    try:
        yield temporary
        commit(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(path: Path, mode: str = "wb", encoding: str | None = None) -> Iterator[IO[Any]]:
    """A file handle whose content replaces `path` whole when the block ends (and nothing if it raises)."""
    with written_path(path) as temporary, open(temporary, mode, encoding=encoding) as handle:
        yield handle
        handle.flush()


def write_bytes(path: Path, data: bytes) -> Path:
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return path


def write_json(path: Path, payload: Any, *, indent: int | None = 2) -> Path:
    separators = None if indent is not None else (",", ":")
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=indent, separators=separators, ensure_ascii=False)
    return path


def move_new(src: Path, folder: Path, name: str | None = None) -> Path:
    """Rename `src` into `folder` (created if needed) as `name` (its own by default), never over another file: a
    taken name gets `-1`, `-2`, ... before its suffix. Both folders are fsynced. Returns where it went."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = Path(name or src.name)
    target = folder / wanted.name
    n = 1
    while target.exists():
        target = folder / f"{wanted.stem}-{n}{wanted.suffix}"
        n += 1
    os.rename(src, target)
    for changed in {src.parent, folder}:
        fsync_dir(changed)
    return target


def replace_dir(temporary: Path, path: Path) -> Path:
    """Swap a finished temporary folder in for `path` (files fsynced first): a reader finds the old folder or
    the whole new one, never a mix."""
    for file in temporary.iterdir():
        if file.is_file():
            fsync_file(file)
    old = path.with_name(f".{path.name}.old")
    if path.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    os.replace(temporary, path)
    fsync_dir(path.parent)
    shutil.rmtree(old, ignore_errors=True)
    return path
