"""Self-contained SVG of a sequence `Diagram`: lanes, arrows, failures in red at their hop.

Built with `xml.etree.ElementTree` (escaping and well-formedness for free, attributes in
insertion order, so the same diagram gives the same bytes). No fonts, scripts or images are
fetched: text is set in a monospace stack so its width can be computed without measuring,
which keeps the layout a few lines of arithmetic (`layout`), tested on its own.
"""

from __future__ import annotations

import re
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from ftptrace.render.diagram_model import Arrow, Diagram, Note, Role, Section, Status

FONT = 13
CHAR_W = 7.9
"""Advance of one character at FONT px in DejaVu Sans Mono (0.602 em), rounded up."""
LINE_H = 17
MARGIN = 24
NOTE_CHARS = 54
COLOURS = {Status.OK: "#1f2937", Status.WARNING: "#b45309", Status.FAILED: "#dc2626",
           Status.MUTED: "#9ca3af"}
NOTE_FILL = {Status.FAILED: "#fef2f2", Status.WARNING: "#fffbeb"}
FONT_FAMILY = "DejaVu Sans Mono, Menlo, Consolas, monospace"
SVG_NS = "http://www.w3.org/2000/svg"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""Characters XML 1.0 forbids (§2.2); a hostile reply text may carry them."""


def xml_text(s: str) -> str:
    """`s` with every character XML cannot hold replaced by U+FFFD (ElementTree does not)."""
    return _NOT_XML.sub("\ufffd", s)


@dataclass(frozen=True, slots=True, kw_only=True)
class Layout:
    """Horizontal geometry: where each lane's lifeline runs and how wide the picture is."""

    xs: dict[Role, int]
    box_w: int
    width: int

    @property
    def text_chars(self) -> int:
        return int((self.width - 2 * MARGIN) / CHAR_W)


def layout(diagram: Diagram) -> Layout:
    """Lanes evenly spaced; two lanes get a wide gap so a whole label fits between them."""
    n = len(diagram.lanes)
    gap = max(200, 640 // (n - 1)) if n > 1 else 0
    box_w = min(gap - 24, 170) if n > 1 else 170
    xs = {lane.role: MARGIN + box_w // 2 + i * gap for i, lane in enumerate(diagram.lanes)}
    return Layout(xs=xs, box_w=box_w, width=2 * MARGIN + box_w + (n - 1) * gap)


def wrap(text: str, chars: int) -> list[str]:
    return textwrap.wrap(text, max(chars, 12), break_on_hyphens=False) or [""]


class _Svg:
    def __init__(self, diagram: Diagram) -> None:
        self.d, self.lay = diagram, layout(diagram)
        self.root = ET.Element("svg", {"xmlns": SVG_NS, "font-family": FONT_FAMILY,
                                       "font-size": str(FONT)})
        self.body = ET.Element("g")
        self.y = 0

    def text(self, x: float, y: float, s: str, *, colour: str = COLOURS[Status.OK],
             anchor: str = "start", bold: bool = False, cls: str = "") -> None:
        attrs = {"x": str(round(x)), "y": str(round(y)), "fill": colour}
        if anchor != "start":
            attrs["text-anchor"] = anchor
        if bold:
            attrs["font-weight"] = "bold"
        if cls:
            attrs["class"] = cls
        ET.SubElement(self.body, "text", attrs).text = xml_text(s)

    def line(self, x1: float, y1: float, x2: float, y2: float, colour: str, *,
             dashed: bool = False, width: float = 1.5, marker: str = "") -> None:
        attrs = {"x1": str(round(x1)), "y1": str(round(y1)), "x2": str(round(x2)),
                 "y2": str(round(y2)), "stroke": colour, "stroke-width": str(width)}
        if dashed:
            attrs["stroke-dasharray"] = "6 4"
        if marker:
            attrs["marker-end"] = f"url(#{marker})"
        ET.SubElement(self.body, "line", attrs)

    def rect(self, x: float, y: float, w: float, h: float, fill: str, stroke: str) -> None:
        ET.SubElement(self.body, "rect", {"x": str(round(x)), "y": str(round(y)),
                                          "width": str(round(w)), "height": str(round(h)),
                                          "rx": "4", "fill": fill, "stroke": stroke})

    def note_box(self, left: float, text: str, status: Status, chars: int = NOTE_CHARS) -> None:
        lines = wrap(text, chars)
        w = max(len(ln) for ln in lines) * CHAR_W + 16
        left = max(MARGIN, min(left, self.lay.width - MARGIN - w))
        h = len(lines) * LINE_H + 8
        colour = COLOURS[status]
        self.rect(left, self.y, w, h, NOTE_FILL.get(status, "#f9fafb"), colour)
        for i, ln in enumerate(lines):
            self.text(left + 8, self.y + 4 + (i + 1) * LINE_H - 4, ln, colour=colour, cls="note")
        self.y += h + 6

    def header(self) -> None:
        self.y = MARGIN
        for ln in wrap(self.d.title, self.lay.text_chars):
            self.y += LINE_H + 2
            self.text(MARGIN, self.y, ln, bold=True, cls="title")
        self.y += 12
        depth = max((len(lane.details) for lane in self.d.lanes), default=0)
        h = 26 + depth * LINE_H
        for lane in self.d.lanes:
            x = self.lay.xs[lane.role]
            self.rect(x - self.lay.box_w / 2, self.y, self.lay.box_w, h, "#eef2ff", "#4338ca")
            self.text(x, self.y + 18, lane.title, anchor="middle", bold=True, cls="lane")
            for j, det in enumerate(lane.details):
                self.text(x, self.y + 18 + (j + 1) * LINE_H, det, anchor="middle",
                          colour="#4338ca", cls="lane-detail")
        self.y += h + 18

    def arrow(self, a: Arrow) -> None:
        x1, x2 = self.lay.xs[a.src], self.lay.xs[a.end]
        colour = COLOURS[a.status]
        span = abs(x2 - x1)
        chars = min(self.lay.text_chars, max(int(span / CHAR_W) - 2, 46))
        lines = wrap(a.label, chars)
        text_w = max(len(ln) for ln in lines) * CHAR_W
        left = max(MARGIN, min(min(x1, x2) + 8, self.lay.width - MARGIN - text_w))
        for ln in lines:
            self.y += LINE_H
            self.text(left, self.y, ln, colour=colour, cls=f"label {a.status.value}")
        self.y += 10
        dead = a.died_at is not None
        self.line(x1, self.y, x2, self.y, colour, dashed=a.reply,
                  width=2.5 if a.status is Status.FAILED else 1.5,
                  marker="" if dead else f"head-{a.status.value}")
        if dead:
            for dx, dy in ((-7, -7), (-7, 7)):
                self.line(x2 + dx, self.y + dy, x2 - dx, self.y - dy, COLOURS[Status.FAILED],
                          width=3)
        self.y += 14
        for note in a.notes:
            self.note_box(x2 - 120, note, a.status)
        self.y += 6

    def note(self, n: Note) -> None:
        xa, xb = self.lay.xs[n.over[0]], self.lay.xs[n.over[-1]]
        chars = min(max(int((abs(xb - xa) + 120) / CHAR_W) - 2, 36), self.lay.text_chars - 2)
        width = min(len(n.text), chars) * CHAR_W + 16
        self.y += 4
        self.note_box((xa + xb - width) / 2, n.text, n.status, chars)
        self.y += 6

    def section(self, s: Section) -> None:
        self.y += 14
        self.line(MARGIN, self.y, self.lay.width - MARGIN, self.y, "#4338ca", width=1)
        self.y += LINE_H + 2
        self.text(MARGIN, self.y, s.title, colour="#4338ca", bold=True, cls="section")
        self.y += 10

    def finish(self) -> ET.Element:
        top = MARGIN
        life = ET.Element("g", {"stroke": "#c7d2fe", "stroke-width": "1.5",
                                "stroke-dasharray": "3 4"})
        for x in self.lay.xs.values():
            ET.SubElement(life, "line", {"x1": str(x), "y1": str(top + 40), "x2": str(x),
                                         "y2": str(self.y + 10)})
        height = self.y + MARGIN
        r = self.root
        r.set("width", str(self.lay.width))
        r.set("height", str(height))
        r.set("viewBox", f"0 0 {self.lay.width} {height}")
        ET.SubElement(r, "title").text = xml_text(self.d.title)
        defs = ET.SubElement(r, "defs")
        for status, colour in COLOURS.items():
            m = ET.SubElement(defs, "marker", {"id": f"head-{status.value}", "viewBox": "0 0 10 10",
                                               "refX": "10", "refY": "5", "markerWidth": "11",
                                               "markerHeight": "11", "orient": "auto",
                                               "markerUnits": "userSpaceOnUse"})
            ET.SubElement(m, "path", {"d": "M0,0 L10,5 L0,10 z", "fill": colour})
        ET.SubElement(r, "rect", {"width": "100%", "height": "100%", "fill": "#ffffff"})
        r.append(life)
        r.append(self.body)
        return r


def render_svg_element(diagram: Diagram) -> ET.Element:
    s = _Svg(diagram)
    s.header()
    for step in diagram.steps:
        if isinstance(step, Arrow):
            s.arrow(step)
        elif isinstance(step, Note):
            s.note(step)
        else:
            s.section(step)
    return s.finish()


def render_svg(diagram: Diagram) -> str:
    """A standalone SVG document (UTF-8 text, no external references)."""
    ET.register_namespace("", SVG_NS)
    body = ET.tostring(render_svg_element(diagram), encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def render_svg_inline(diagram: Diagram) -> str:
    """The `<svg>` element alone, for embedding in an HTML page."""
    return ET.tostring(render_svg_element(diagram), encoding="unicode")
