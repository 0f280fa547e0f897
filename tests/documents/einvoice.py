"""Offline EN 16931 validation of UBL with the official CEN/TC 434 Schematron (compiled XSLT).

The stylesheet lives outside the repository (`../shared/einvoice/`, EUPL-licensed, or the folder
in EINVOICE_DIR); tests that need it are skipped with the reason when it is absent.
"""

import os
from functools import cache
from pathlib import Path

import pytest
from django.conf import settings
from lxml import etree

SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}


def stylesheet_path() -> Path:
    # EINVOICE_DIR: for a checkout whose parent has no `shared/` (e.g. a git worktree).
    folder = (
        os.environ.get("EINVOICE_DIR") or Path(settings.BASE_DIR).parent / "shared" / "einvoice"
    )
    return Path(folder) / "EN16931-UBL-validation.xslt"


@cache
def _executable():
    saxonche = pytest.importorskip("saxonche")
    path = stylesheet_path()
    if not path.exists():
        pytest.skip(f"EN 16931 validation artefact not found at {path}")
    processor = saxonche.PySaxonProcessor(license=False)
    return processor, processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(path))


def en16931_failed_asserts(xml: bytes) -> list[dict]:
    """Every failed assert of the EN 16931 rules: id, flag (fatal/warning) and text."""
    processor, executable = _executable()
    source = processor.parse_xml(xml_text=xml.decode("utf-8"))
    report = etree.fromstring(executable.transform_to_string(xdm_node=source).encode("utf-8"))
    return [
        {
            "id": failed.get("id"),
            "flag": failed.get("flag"),
            "text": " ".join(failed.xpath("string(svrl:text)", namespaces=SVRL).split()),
        }
        for failed in report.iterfind("svrl:failed-assert", SVRL)
    ]


def fatal(xml: bytes) -> list[dict]:
    return [failed for failed in en16931_failed_asserts(xml) if failed["flag"] == "fatal"]
