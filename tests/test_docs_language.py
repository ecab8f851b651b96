"""The docs, the code and the shipped files speak of the product alone: what it does, what was measured and the
command that reproduces it, never how or when it was developed. A short deny-list of the phrases such talk is
made of, over everything a user reads or receives, keeps it from coming back."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ["README.md", "docs", "src", "benchmarks", "scripts", "recipes"]
TEXT_SUFFIXES = {".md", ".py", ".json", ".yaml", ".yml", ".toml", ".txt", ".sh", ".html", ".js", ".css"}

DENIED = {
    "a development round": r"\b(this|next|previous|that) (session|round)\b|\bsessions? \d",
    "an issue number": r"\bissues? #?\d+",
    "a machine lent or not": r"\bGPUs? (was |were )?(not )?lent\b|\blent to (this|the) (task|session)",
    "a CI run of a day": r"\bCI runs? (of|on) (a|the|this|that)\b",
    "a temporary-folder path": r"(?<![\w.])/tmp/",
    "first-person narration": r"\b(I|we) (looked|measured|tried|ran|found|chose|wrote|picked)\b",
}


def _shipped_text_files() -> list[Path]:
    files: list[Path] = []
    for name in SCANNED:
        path = ROOT / name
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        files += [p for p in candidates if p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts]
    return files


def test_the_deny_list_catches_what_it_names() -> None:
    caught = {
        "a development round": "Measured in session 12 of the work",
        "an issue number": "as issue #18 asks",
        "a machine lent or not": "No GPU was lent, so",
        "a CI run of a day": "the CI run of that day",
        "a temporary-folder path": "--out /tmp/wm/run",
        "first-person narration": "I looked at the frames",
    }
    for what, text in caught.items():
        assert re.search(DENIED[what], text, re.IGNORECASE), what
    # the product's own words stay allowed
    for text in ("recorded in 20 s sessions", "--group-by session", "ten sessions of five", "/api/rooms"):
        assert not any(re.search(pattern, text, re.IGNORECASE) for pattern in DENIED.values()), text


def test_no_development_talk_in_what_a_user_reads() -> None:
    files = _shipped_text_files()
    assert len(files) > 100, "the scan found almost nothing: the folders moved?"
    hits = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for what, pattern in DENIED.items():
                if re.search(pattern, line, re.IGNORECASE):
                    hits.append(f"{path.relative_to(ROOT)}:{number}: {what}: {line.strip()[:120]}")
    assert not hits, "development talk in shipped text:\n" + "\n".join(hits)
