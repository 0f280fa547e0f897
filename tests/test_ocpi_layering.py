"""`ocpi/` is an adapter above the services (issue 10 §4): the services never import it, and the
neutral OCPI format module imports neither side."""

import ast
from pathlib import Path

import evse_payout

ROOT = Path(evse_payout.__file__).parent


def imported_modules(path: Path, text: str | None = None) -> set[str]:
    """The absolute names of the evse_payout modules a file (or `text` as that file) imports."""
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text() if text is None else text)):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(filter(None, [base, node.module or ""]))
            names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return {name for name in names if name.startswith("evse_payout")}


def importers_of(prefix: str, files) -> list[str]:
    return sorted(
        str(path.relative_to(ROOT))
        for path in files
        if any(name == prefix or name.startswith(prefix + ".") for name in imported_modules(path))
    )


def test_services_do_not_import_the_ocpi_adapter():
    assert importers_of("evse_payout.ocpi", (ROOT / "services").rglob("*.py")) == []


def test_the_ocpi_format_module_imports_neither_services_nor_the_adapter():
    format_module = [ROOT / "ocpi_format.py"]
    assert importers_of("evse_payout.services", format_module) == []
    assert importers_of("evse_payout.ocpi", format_module) == []


def test_the_check_sees_a_leak():
    """The check itself: a relative import of the adapter from a service is found."""
    names = imported_modules(ROOT / "services" / "probe.py", "from ..ocpi import views")

    assert "evse_payout.ocpi.views" in names
