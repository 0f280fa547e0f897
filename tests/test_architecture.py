"""Dependencies run one way (ARCHITECTURE.md): the import-linter contracts in pyproject.toml.

A leak (a lower layer importing a higher one, services importing the OCPI adapter, tables and
selectors importing each other) fails this test with the import chain in the output.
"""

from pathlib import Path

from importlinter import cli

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_imports_follow_the_layers():
    status = cli.lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True)

    assert status == cli.EXIT_STATUS_SUCCESS, "an import crosses a layer: see the report above"
