"""Terminal diagrams: 80 columns, ASCII when asked or piped, colour on a tty, golden bytes."""

from __future__ import annotations

import io
from typing import Any

from tests.render.conftest import check_golden, load_fixture

from ftptrace.render.diagram_model import build_diagram
from ftptrace.render.diagram_text import (
    WIDTH,
    emit,
    lane_columns,
    render_rich,
    render_text,
    to_ascii,
)
from ftptrace.render.explain import explain


def test_fits_80_columns_and_matches_golden(fixture_doc: tuple[str, dict[str, Any]]) -> None:
    name, doc = fixture_doc
    d = build_diagram(doc)
    for ascii in (True, False):
        text = render_text(d, ascii=ascii)
        assert all(len(line) <= WIDTH for line in text.splitlines()), name
        assert text == render_text(build_diagram(doc), ascii=ascii), "not deterministic"
    plain = render_text(d, ascii=True)
    assert plain.isascii()
    check_golden(f"{name}.txt", plain)


def test_failure_is_marked_at_its_hop() -> None:
    text = render_text(build_diagram(load_fixture("pasv_range_not_forwarded")), ascii=True)
    cols = lane_columns(3)
    cross = [ln for ln in text.splitlines() if "-X" in ln]
    assert len(cross) == 1, text
    assert cross[0].index("-X") + 1 == cols[1], "dies on the server-router lifeline"
    assert "X DATA_SYN_UNANSWERED" in text


def test_unicode_rendering_uses_box_drawing() -> None:
    text = render_text(build_diagram(load_fixture("port_ok")), ascii=False)
    assert "│" in text and "─" in text and "→" in text


def test_rich_colours_failures_red() -> None:
    t = render_rich(build_diagram(load_fixture("pasv_private_address")))
    styles = {str(span.style) for span in t.spans}
    assert "bold red" in styles
    assert t.plain.splitlines()[0].startswith("client.pcap")


def test_emit_degrades_to_ascii_when_not_a_tty() -> None:
    d = build_diagram(load_fixture("pasv_private_address"))
    out = io.StringIO()
    emit([d], out, prelude=["héllo → there\n"])
    assert out.getvalue().isascii() and out.getvalue().startswith("hello -> there")
    assert out.getvalue().endswith(render_text(d, ascii=True))


def test_emit_colours_on_a_tty() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    emit([build_diagram(load_fixture("pasv_private_address"))], out)
    assert "\x1b[" in out.getvalue() and "│" in out.getvalue()
    forced = Tty()
    emit([build_diagram(load_fixture("pasv_private_address"))], forced, ascii=True)
    assert forced.getvalue().isascii() and "\x1b[" not in forced.getvalue()


def test_lane_columns() -> None:
    assert lane_columns(2) == [6, 73]
    assert lane_columns(5) == [6, 23, 40, 56, 73]
    assert lane_columns(1) == [40]


def test_to_ascii() -> None:
    assert to_ascii("a → b — c × 4… ✗ ü 日") == "a -> b -- c x 4... X u ?"


def test_explain_diagram_fits() -> None:
    text = render_text(explain("both").diagram, ascii=True)
    assert all(len(line) <= WIDTH for line in text.splitlines())
    check_golden("explain_both.txt", text)
