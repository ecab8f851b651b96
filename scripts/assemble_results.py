"""Assemble docs/RESULTS.md from the per-area sections in docs/results/ (each written by its benchmark).

Run after a benchmark rewrites its section:  .venv/bin/python scripts/assemble_results.py
"""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
ORDER = [
    "sim",
    "video",
    "backbone",
    "worldmodel",
    "probes",
    "room_probe",
    "room_probe_crop256",
    "worldmodel_people",
    "room_probe_people",
    "room_probe_people_s7",
    "worldmodel_people_s8",
    "room_probe_people_s8",
    "worldmodel_people_s9",
    "room_probe_erased",
    "worldmodel_people_s10",
    "worldmodel_people_s11",
    "worldmodel_people_s12",
    "worldmodel_people_s13",
    "room_tasks",
    "worldmodel_people_s14",
    "worldmodel_people_s15",
    "worldmodel_people_s16",
    "live",
    "demo",
    "dashboard",
    "bot",
    "distributed",
    "hostile",
    "outputs",
]
HEADER = """# Results

Every measured claim in this project, with the command that reproduces it. Each section below is written by its
benchmark into `docs/results/<area>.md` and gathered here by `.venv/bin/python scripts/assemble_results.py`.

## Environment

- CPU machine: 2 cores (x86_64, AMD EPYC), 24 GiB memory, Debian 12, Python 3.11.7, PyTorch 2.13.0+cpu,
  transformers 5.24. The two cores were shared with other jobs while most numbers were taken; sections say so
  where it matters and give ratios measured in the same run rather than bare times where they can.
- No GPU was lent to the sessions that measured these numbers: every GPU row is "not measured".
"""


def main() -> None:
    sections = [DOCS / "results" / f"{name}.md" for name in ORDER]
    missing = [str(p) for p in sections if not p.exists()]
    if missing:
        raise SystemExit(f"missing sections: {', '.join(missing)}")
    body = "\n\n".join(p.read_text(encoding="utf-8").strip() for p in sections)
    # a section links its own pictures beside it in docs/results/; from docs/ they are one folder down
    body = re.sub(r"\]\((?![a-z]+:|/|\.\./)([^)/]+\.(?:png|svg))\)", r"](results/\1)", body)
    (DOCS / "RESULTS.md").write_text(f"{HEADER}\n{body}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
