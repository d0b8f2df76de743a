"""Connectors use hub only through its public surfaces (what a third-party connector may
import too): `hub.runtime` (and its `api` module), `hub.log`, `hub.errors` and `hub.verify`.
A private module a connector needs is exported from one of them first."""

from __future__ import annotations

import ast
from pathlib import Path

PUBLIC = {"hub.runtime", "hub.runtime.api", "hub.log", "hub.errors", "hub.verify"}
ROOT = Path(__file__).resolve().parent.parent


def _hub_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found.update(n for n in names if n == "hub" or n.startswith("hub."))
    return found


def test_connectors_import_only_public_surfaces_of_hub() -> None:
    private = {
        str(path.relative_to(ROOT)): sorted(_hub_imports(path) - PUBLIC)
        for path in sorted((ROOT / "connectors").rglob("*.py"))
    }
    assert {f: m for f, m in private.items() if m} == {}
    # (the check sees the imports: every connector package imports hub somewhere)
    assert sum(1 for path in (ROOT / "connectors").rglob("*.py") if _hub_imports(path)) > 20
