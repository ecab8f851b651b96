"""The layer table of docs/ARCHITECTURE.md, enforced: a module imports only from its own layer and the ones above."""

from __future__ import annotations

import ast
from pathlib import Path

import classroom_mode

PACKAGE = Path(classroom_mode.__file__).parent
LAYERS = [
    "clock",
    "records",
    "errors",
    "files",
    "config",
    "video",
    "sim",
    "model",
    "modes",
    "store",
    "outputs",
    "service",
    "bot",
    "cli",
]
"""Top to bottom; `clock`, `records`, `errors` and `files` are shared by all and import nothing of ours but the
first two each other."""


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "classroom_mode" or len(parts) < 2:
        return None
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def test_no_module_imports_a_lower_layer():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = "classroom_mode." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        own = _layer(module)
        if own is None:
            continue
        for imported in _imports(path):
            theirs = _layer(imported)
            if theirs is not None and theirs > own and not (own <= 1 and theirs <= 1):
                violations.append(f"{module} imports {imported}")
    assert not violations, "\n".join(violations)


def test_every_package_is_in_the_layer_table():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert packages | modules <= set(LAYERS)


def test_the_live_loop_never_imports_the_http_app():
    """Within the service layer, `live/` and the modules both packages use (`analysis.py`, `api_models.py`) run
    without `api/`: `classroom-mode run` has no HTTP app."""
    service = PACKAGE / "service"
    checked = [*sorted((service / "live").rglob("*.py")), *sorted(service.glob("*.py"))]
    violations = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in checked
        for name in _imports(path)
        if name == "classroom_mode.service.api" or name.startswith("classroom_mode.service.api.")
    ]
    assert len(checked) > 5, "the scan found almost nothing: service/ moved?"
    assert not violations, "\n".join(violations)
