"""Every shipped lab scenario (captures/NAME/, one capture per vantage) drawn in every format
through the real engine; the HTML report of each loaded in Chromium (a screenshot per
scenario); the lane of each declared cause drawn, and failed transfers in red."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from tests.render.conftest import Chromium, PageCheck, png_distinct_bytes
from tests.render.test_mermaid import validate

from ftptrace.render.diagram_model import WHERE_ROLE, Arrow, Status, build_diagram
from ftptrace.render.diagram_text import render_text
from ftptrace.render.html import render_html_report
from ftptrace.render.json import to_document
from ftptrace.render.mermaid import render_mermaid
from ftptrace.render.svg import render_svg
from ftptrace.replay import analyze

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
SCENARIOS = sorted(p.parent.name for p in CAPTURES.glob("*/scenario.json"))


def scenario_doc(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    folder = CAPTURES / name
    inputs = [(p.name.split(".")[0], p) for p in sorted(folder.iterdir())
              if p.suffix in {".pcap", ".pcapng", ".gz"}]
    declared: dict[str, Any] = json.loads((folder / "scenario.json").read_text())
    return to_document(analyze(inputs)), declared


@pytest.mark.skipif(not SCENARIOS, reason="no lab captures shipped")
@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_in_every_format(name: str) -> None:
    doc, declared = scenario_doc(name)
    d = build_diagram(doc)
    text = render_text(d, ascii=True)
    assert text.isascii() and all(len(ln) <= 80 for ln in text.splitlines())
    assert render_text(build_diagram(doc), ascii=True) == text
    validate(render_mermaid(d))
    ET.fromstring(render_svg(d).split("\n", 1)[1])
    # The declared `where` is the cause (a server setting, a router without a helper); the
    # arrow dies where the packet did (the internet, for a private address): the cause's lane
    # must be drawn, and a failed transfer must show a dead or red arrow.
    where = WHERE_ROLE.get(str(declared["expect"].get("where")))
    if where is not None and doc["findings"]:
        assert where in d.roles
    if declared["expect"].get("data") in {"unanswered", "refused", "unreachable"}:
        assert any(isinstance(a, Arrow) and a.status is Status.FAILED for a in d.steps)


@pytest.fixture(scope="module")
def scenario_pages(
    chromium: Chromium, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[dict[str, Any], PageCheck]]:
    """Every scenario's HTML report, loaded in Chromium a few at a time."""
    folder = tmp_path_factory.mktemp("lab-reports")
    docs = {name: scenario_doc(name)[0] for name in SCENARIOS}
    pages = {}
    for name, doc in docs.items():
        page = folder / f"lab_{name}.html"
        page.write_text(render_html_report(doc), encoding="utf-8")
        pages[name] = page
    checked = chromium.check_many(list(pages.values()))
    return {name: (docs[name], checked[page]) for name, page in pages.items()}


@pytest.mark.skipif(not SCENARIOS, reason="no lab captures shipped")
@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_report_in_chromium(
    name: str, scenario_pages: dict[str, tuple[dict[str, Any], PageCheck]]
) -> None:
    doc, result = scenario_pages[name]
    assert result.console == []
    for f in doc["findings"]:
        assert f["code"] in result.dom
    assert 'id="verdict"' in result.dom
    assert png_distinct_bytes(result.screenshot) > 16
