"""SVG: well-formed, self-contained, deterministic, failures red at their hop — and checked
in a real headless Chromium (labels in the DOM, a silent console, a screenshot to look at)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from tests.render.conftest import (
    FIXTURE_NAMES,
    Chromium,
    check_golden,
    load_fixture,
    png_distinct_bytes,
)

from ftptrace.render.diagram_model import Arrow, Diagram, Lane, Role, Status, build_diagram
from ftptrace.render.explain import explain
from ftptrace.render.svg import COLOURS, SVG_NS, layout, render_svg, render_svg_inline

NS = {"s": SVG_NS}


def texts(svg: str) -> list[str]:
    return [t.text or "" for t in ET.fromstring(svg.split("\n", 1)[1]).iter(f"{{{SVG_NS}}}text")]


def test_well_formed_deterministic_and_golden(fixture_doc: tuple[str, dict[str, Any]]) -> None:
    name, doc = fixture_doc
    svg = render_svg(build_diagram(doc))
    assert svg.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3')
    root = ET.fromstring(svg.split("\n", 1)[1])
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    assert svg == render_svg(build_diagram(doc))
    check_golden(f"{name}.svg", svg)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_self_contained(name: str) -> None:
    svg = render_svg(build_diagram(load_fixture(name)))
    assert re.findall(r"https?://[^\"]+", svg) == ["http://www.w3.org/2000/svg"]
    assert "href" not in svg and "<script" not in svg and "@import" not in svg
    assert not re.search(r"url\((?!#head-)", svg), "only internal marker references"


def test_failure_drawn_red_with_a_cross_and_its_summary() -> None:
    svg = render_svg(build_diagram(load_fixture("pasv_range_not_forwarded")))
    red = COLOURS[Status.FAILED]
    root = ET.fromstring(svg.split("\n", 1)[1])
    red_lines = [ln for ln in root.iter(f"{{{SVG_NS}}}line") if ln.get("stroke") == red]
    assert len(red_lines) >= 3, "the dead arrow plus the two strokes of its cross"
    assert any("DATA_SYN_UNANSWERED" in t for t in texts(svg))
    assert any(t.startswith("data #2 for RETR test.jpg") for t in texts(svg))


def test_layout_spacing() -> None:
    two = Diagram(title="t", lanes=(Lane(role=Role.CLIENT), Lane(role=Role.SERVER)), steps=())
    five = Diagram(title="t", lanes=tuple(Lane(role=r) for r in Role), steps=())
    l2, l5 = layout(two), layout(five)
    assert l2.xs[Role.SERVER] - l2.xs[Role.CLIENT] == 640, "two lanes: room for whole labels"
    gaps = [b - a for a, b in zip(list(l5.xs.values()), list(l5.xs.values())[1:], strict=False)]
    assert gaps == [200] * 4
    assert l5.width == 2 * 24 + l5.box_w + 800


def test_long_labels_stay_inside_the_picture() -> None:
    d = Diagram(title="t", lanes=(Lane(role=Role.CLIENT), Lane(role=Role.SERVER)), steps=(
        Arrow(src=Role.SERVER, dst=Role.CLIENT, label="x" * 300, status=Status.FAILED,
              died_at=Role.CLIENT, notes=("n" * 400,)),))
    root = ET.fromstring(render_svg_inline(d))
    width = int(root.get("width") or 0)
    for t in root.iter(f"{{{SVG_NS}}}text"):
        assert int(t.get("x") or 0) + len(t.text or "") * 7.9 <= width


def test_inline_has_no_xml_declaration() -> None:
    assert render_svg_inline(build_diagram(load_fixture("port_ok"))).startswith("<svg ")


CHECKS = {
    "pasv_private_address": ["PASV_PRIVATE_ADDRESS", "server router", "internet"],
    "port_client_behind_nat": ["PORT_PRIVATE_ADDRESS", "client router", "connects 192.168.1.2:20"],
    "multi_vantage_pasv": ["203.0.113.20:61002", "192.168.1.2:50000", "DATA_SYN_UNANSWERED"],
    "port_ok": ["server connects 192.168.1.2:20", "226 Transfer complete."],
}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_chromium_renders_the_svg(name: str, chromium: Chromium, tmp_path: Path) -> None:
    page = tmp_path / f"{name}.svg"
    page.write_text(render_svg(build_diagram(load_fixture(name))), encoding="utf-8")
    result = chromium.check(page, size=(1000, 1300))
    assert result.console == []
    for label in CHECKS[name]:
        assert label in result.dom, f"{label!r} not in the rendered DOM"
    assert png_distinct_bytes(result.screenshot) > 16, "blank screenshot"


def test_chromium_renders_the_explain_svg(chromium: Chromium, tmp_path: Path) -> None:
    page = tmp_path / "explain_both.svg"
    page.write_text(render_svg(explain("both", (50000, 50010)).diagram), encoding="utf-8")
    result = chromium.check(page, size=(1000, 3200))
    assert result.console == []
    assert "50000-50010 → 192.168.1.2" in result.dom and "the client connects" in result.dom
    assert png_distinct_bytes(result.screenshot) > 16


@pytest.mark.parametrize("mode", ["pasv", "port"])
def test_docs_svgs_are_well_formed(mode: str) -> None:
    path = Path(__file__).resolve().parents[2] / "docs" / f"diagram-{mode}.svg"
    svg = path.read_text(encoding="utf-8")
    assert ET.fromstring(svg.split("\n", 1)[1]).tag == f"{{{SVG_NS}}}svg"
    assert any(t.startswith(mode.upper()) for t in texts(svg))
