"""Terminal rendering of a sequence `Diagram`: 80 columns, rich colours on a tty, ASCII else.

Why a character canvas rather than rich's layout widgets: the picture must be the same
bytes every time (golden files), fit 80 columns with up to five lanes, and degrade to plain
ASCII for pipes, logs and e-mail. The canvas is a grid of (character, style) cells; rich is
used only to colour it on a terminal.
"""

from __future__ import annotations

import textwrap
import unicodedata
from collections.abc import Iterable, Sequence
from typing import TextIO

from rich.console import Console
from rich.text import Text

from ftptrace.render.diagram_model import Arrow, Diagram, Note, Role, Section, Status

WIDTH = 80
MARGIN = 6
"""Half a lane title: the outer lanes' columns sit this far from the edges."""

_UNICODE = {"life": "│", "line": "─", "dash": "╌", "cross": "┼", "dead": "✗", "rule": "─",
            "fail": "✗ ", "warn": "! ", "info": "· "}
_ASCII = {"life": "|", "line": "-", "dash": ".", "cross": "+", "dead": "X", "rule": "=",
          "fail": "X ", "warn": "! ", "info": "- "}

_STYLE = {Status.OK: "", Status.WARNING: "yellow", Status.FAILED: "bold red", Status.MUTED: "dim"}

_TRANSLIT = str.maketrans({"→": "->", "←": "<-", "—": "--", "–": "-", "×": "x", "…": "...",
                           "·": "-", "≥": ">=", "≤": "<=", "↔": "<->", "✗": "X", "’": "'",
                           "“": '"', "”": '"', "•": "*"})


def to_ascii(text: str) -> str:
    """Plain 7-bit text: typography transliterated, accents dropped, anything else '?'."""
    text = unicodedata.normalize("NFKD", text.translate(_TRANSLIT))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.encode("ascii", "replace").decode("ascii")


def lane_columns(n: int, width: int = WIDTH) -> list[int]:
    """Evenly spaced lifeline columns; the outer ones MARGIN from the edges."""
    if n <= 1:
        return [width // 2]
    span = width - 1 - 2 * MARGIN
    return [round(MARGIN + i * span / (n - 1)) for i in range(n)]


Cell = list[str]  # [char, style]


class Canvas:
    """Rows of styled cells with the lifelines pre-drawn."""

    def __init__(self, cols: Sequence[int], glyphs: dict[str, str], ascii: bool) -> None:
        self.cols, self.g, self.ascii = list(cols), glyphs, ascii
        self.rows: list[list[Cell]] = []

    def t(self, text: str) -> str:
        """Text as it will be printed (transliterated before layout so widths hold)."""
        return to_ascii(text) if self.ascii else text

    def row(self, lifelines: bool = True) -> list[Cell]:
        r = [[" ", ""] for _ in range(WIDTH)]
        if lifelines:
            for c in self.cols:
                r[c] = [self.g["life"], "dim"]
        self.rows.append(r)
        return r

    def text_row(self, start: int, text: str, style: str) -> None:
        r = self.row()
        for i, ch in enumerate(text[: WIDTH - start]):
            r[start + i] = [ch, style]

    def block(self, start: int, lines: Iterable[str], style: str) -> None:
        for line in lines:
            self.text_row(start, line, style)

    def centered(self, texts: Sequence[str], style: str) -> None:
        r = self.row(lifelines=False)
        gap = (self.cols[1] - self.cols[0]) if len(self.cols) > 1 else WIDTH
        for c, t in zip(self.cols, texts, strict=True):
            t = t if len(t) < gap else t[: gap - 2] + "…"
            left = max(0, min(WIDTH - len(t), c - len(t) // 2))
            for i, ch in enumerate(t):
                r[left + i] = [ch, style]


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def _text_start(cols: Sequence[int], a: int, b: int, need: int = 44) -> tuple[int, int]:
    """Where a label starts and how wide it may be: beside the arrow, inside 80 columns."""
    start = min(cols[a], cols[b]) + 2
    if WIDTH - start < need:
        start = max(2, WIDTH - need)
    return start, WIDTH - start - 1


def _draw_arrow(cv: Canvas, idx: dict[Role, int], a: Arrow) -> None:
    g, cols = cv.g, cv.cols
    s, e = idx[a.src], idx[a.end]
    style = _STYLE[a.status]
    start, width = _text_start(cols, s, e)
    cv.block(start, _wrap(cv.t(a.label), width), style)
    r = cv.row()
    lo, hi = sorted((cols[s], cols[e]))
    for x in range(lo + 1, hi):
        r[x] = [g["cross"] if x in cols else (g["dash"] if a.reply else g["line"]), style]
    if a.died_at is not None:
        r[cols[e]] = [g["dead"], "bold red"]
    elif cols[e] > cols[s]:
        r[cols[e] - 1] = [">", style]
    else:
        r[cols[e] + 1] = ["<", style]
    note_style = "red" if a.status is Status.FAILED else ("yellow" if a.notes else "")
    mark = g["fail"] if a.status is Status.FAILED else g["warn"]
    for note in a.notes:
        start, width = _text_start(cols, e, e)
        lines = _wrap(cv.t(note), width - 2)
        cv.block(start, [mark + lines[0], *("  " + ln for ln in lines[1:])], note_style)


def _draw_note(cv: Canvas, idx: dict[Role, int], n: Note) -> None:
    first, last = idx[n.over[0]], idx[n.over[-1]]
    start, width = _text_start(cv.cols, first, last)
    mark = {Status.FAILED: cv.g["fail"], Status.WARNING: cv.g["warn"]}.get(n.status, cv.g["info"])
    lines = _wrap(cv.t(n.text), width - 2)
    style = _STYLE[n.status] or "italic"
    cv.block(start, [mark + lines[0], *("  " + ln for ln in lines[1:])], style)


def draw(diagram: Diagram, *, ascii: bool) -> Canvas:
    """Lay the diagram out on a canvas (pure: same diagram, same cells)."""
    g = _ASCII if ascii else _UNICODE
    cv = Canvas(lane_columns(len(diagram.lanes)), g, ascii)
    idx = {lane.role: i for i, lane in enumerate(diagram.lanes)}
    for line in _wrap(cv.t(diagram.title), WIDTH - 1):
        cv.row(lifelines=False)[: len(line)] = [[ch, "bold"] for ch in line]
    cv.centered([lane.title for lane in diagram.lanes], "bold")
    depth = max((len(lane.details) for lane in diagram.lanes), default=0)
    for j in range(depth):
        cv.centered([cv.t(lane.details[j]) if j < len(lane.details) else ""
                     for lane in diagram.lanes], "cyan")
    cv.row()
    for step in diagram.steps:
        if isinstance(step, Arrow):
            _draw_arrow(cv, idx, step)
        elif isinstance(step, Note):
            _draw_note(cv, idx, step)
        elif isinstance(step, Section):
            cv.row()
            title = f"{g['rule'] * 2} {cv.t(step.title)} "
            r = cv.row(lifelines=False)
            for i, ch in enumerate((title + g["rule"] * WIDTH)[: WIDTH - 1]):
                r[i] = [ch, "bold"]
        cv.row()
    return cv


def render_text(diagram: Diagram, *, ascii: bool = True) -> str:
    """The diagram as plain text (no colour); ASCII-only when `ascii`."""
    rows = draw(diagram, ascii=ascii).rows
    return "".join("".join(c[0] for c in r).rstrip() + "\n" for r in rows)


def render_rich(diagram: Diagram) -> Text:
    """The diagram as a rich `Text` with colours (failures in red)."""
    out = Text(no_wrap=True, overflow="crop")
    for r in draw(diagram, ascii=False).rows:
        line = Text(no_wrap=True)
        end = len(r)
        while end and r[end - 1][0] == " ":
            end -= 1
        for ch, style in r[:end]:
            line.append(ch, style or None)
        out.append_text(line)
        out.append("\n")
    return out


def emit(diagrams: Sequence[Diagram], stream: TextIO, *, ascii: bool | None = None,
         prelude: Sequence[str] = ()) -> None:
    """Print to a terminal in colour, or as plain ASCII with `--ascii` or when not a tty.

    `prelude` is plain text printed first (the explanation's tables and rules).
    """
    plain = ascii if ascii is not None else not stream.isatty()
    if plain:
        for block in prelude:
            stream.write(to_ascii(block))
        for d in diagrams:
            stream.write(render_text(d, ascii=True))
        return
    console = Console(file=stream, width=WIDTH, highlight=False, soft_wrap=False)
    for block in prelude:
        console.print(Text(block, no_wrap=True), end="")
    for d in diagrams:
        console.print(render_rich(d), end="")
