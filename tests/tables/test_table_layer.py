"""Tables render what views hand them: they import no selectors and no views (issue 10)."""

import ast
from pathlib import Path

import evse_payout.tables

TABLES = Path(evse_payout.tables.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level >= 1
    }


def test_tables_import_no_selectors_and_no_views():
    leaks = {
        path.name: sorted(module)
        for path in TABLES.glob("*.py")
        if (
            module := {
                m for m in imported_modules(path) if m.split(".")[0] in ("selectors", "views")
            }
        )
    }

    assert leaks == {}
