"""Histories as older versions of the schema left them, for the tests of its migrations."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path


def as_version(path: Path, version: int, missing: Sequence[str]) -> None:
    """Make the history at `path` one that schema `version` wrote: today's tables less `missing`, those it did not
    have yet, with the rows the others hold kept for the migration to carry over."""
    conn = sqlite3.connect(path)
    for table in missing:
        conn.execute(f"DROP TABLE {table}")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()
