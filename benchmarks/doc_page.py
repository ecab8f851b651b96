"""Where a benchmark's table goes: its own marked section of its page in `docs/benchmarks/`.

A page holds the latest table between `<!-- NAME -->` and `<!-- /NAME -->` and, around it, how to read it,
written by hand. Re-running the benchmark replaces the table and leaves the reading, so a page never has to be
rebuilt from pieces.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
from pathlib import Path

import torch

PAGES = Path("docs/benchmarks")
"""The benchmarks' pages, one per script, from the repository root (where the commands run)."""


def benchmark_page(name: str) -> Path:
    """The page of the benchmark `name` (`docs/benchmarks/NAME.md`)."""
    return PAGES / f"{name}.md"


def write_section(path: Path, name: str, text: str, *, host: str) -> None:
    """Replace (or append) the section marked `name` in `path`, leaving the rest of the page as it is.

    Every section ends with `Machine: {host}.` (`host` from `machine()`) and the `reproduce()` line, added here
    rather than by each script, so that no page shows a timing without its machine, load and command, and every
    page ends the same way.

    The text goes to the terminal as well: whoever ran the benchmark reads its table there first.
    """
    text = f"{text.rstrip()}\n\nMachine: {host}.\n\n{reproduce()}"
    print(text)
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    block = f"{start}\n{text.rstrip()}\n{end}\n"
    if start in old and end in old:
        new = old[: old.index(start)] + block + old[old.index(end) + len(end) + 1 :]
    else:
        new = old + ("\n" if old else "") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, encoding="utf-8")
    print(f"wrote {path} (section {name})")


def reproduce() -> str:
    """The command that made the table, read from `sys.argv`, so it cannot drift from the options that ran."""
    script = Path(sys.argv[0])
    if script.is_absolute() and script.is_relative_to(Path.cwd()):
        script = script.relative_to(Path.cwd())
    return f"Reproduce: `.venv/bin/python {shlex.join([str(script), *sys.argv[1:]])}`"


def machine(*software: str) -> str:
    """The machine a table was measured on. Timings move with the load, so the load average is read here, and this
    is called when measuring starts; `software` names what else the numbers depend on (PyAV's version, chromium's).
    """
    load = os.getloadavg()[0]
    return ", ".join(
        [
            f"{_cpu_name()}, {os.cpu_count()} CPU cores (load average {load:.1f} at the start)",
            f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)",
            *software,
        ]
    )


def _cpu_name() -> str:
    """The CPU's model name where Linux gives it: `platform` names only the architecture there, which says nothing
    about the speed."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    names = (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    return next(names, platform.processor() or platform.machine())
