"""Writing files whole or not at all (`classroom_mode.files`)."""

from __future__ import annotations

import json
import os

import pytest


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    from classroom_mode.files import atomic_open, write_json

    target = tmp_path / "state.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_open(target, "w", encoding="utf-8") as handle:
        handle.write('{"v": 2')
        raise RuntimeError("killed halfway")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
