"""Mermaid output, checked by parsing it: a small structural validator of sequenceDiagram.

mermaid-cli needs a browser download (puppeteer), which this offline machine cannot do, so
the text is checked against the grammar rules that matter (mermaid's sequenceDiagram.jison):
declared participants, arrows between declared ids, well-formed notes, balanced rect/end,
and no raw `;` or `#` in text (`;` ends a statement, `#` starts a comment or an entity).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.render.conftest import check_golden, load_fixture

from ftptrace.render.diagram_model import build_diagram
from ftptrace.render.explain import explain
from ftptrace.render.mermaid import escape, render_markdown, render_mermaid

ID = r"[A-Za-z][A-Za-z0-9_]*"
ARROW = re.compile(rf"^({ID})(->>|-->>|-x|--x|->|-->|-\)|--\))({ID}): (.+)$")
NOTE = re.compile(rf"^Note (over|left of|right of) ({ID})(?:,({ID}))?: (.+)$")
PARTICIPANT = re.compile(rf"^participant ({ID}) as (.+)$")
RECT = re.compile(r"^rect rgba?\(\s*\d+\s*,\s*\d+\s*,\s*\d+\s*(,\s*[0-9.]+\s*)?\)$")
ENTITY = re.compile(r"#(\d+|[a-z]+);")


def validate(text: str) -> dict[str, int]:
    """Raise AssertionError on anything mermaid would reject or misread; count statements."""
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "sequenceDiagram", "first line must be the diagram type"
    declared: list[str] = []
    counts = {"participants": 0, "arrows": 0, "notes": 0, "rects": 0}
    depth = 0
    for raw in lines[1:]:
        line = raw.strip()
        assert line, "no blank statements"
        text_part = line
        if line.startswith("title "):
            text_part = line[6:]
        elif m := PARTICIPANT.match(line):
            assert m.group(1) not in declared, f"participant declared twice: {line}"
            declared.append(m.group(1))
            counts["participants"] += 1
            text_part = m.group(2)
        elif m := ARROW.match(line):
            assert m.group(1) in declared and m.group(3) in declared, f"undeclared end: {line}"
            counts["arrows"] += 1
            text_part = m.group(4)
        elif m := NOTE.match(line):
            ids = [i for i in (m.group(2), m.group(3)) if i]
            assert all(i in declared for i in ids), f"note over undeclared lane: {line}"
            assert m.group(1) == "over" or len(ids) == 1
            counts["notes"] += 1
            text_part = m.group(4)
        elif RECT.match(line):
            depth += 1
            counts["rects"] += 1
            continue
        elif line == "end":
            depth -= 1
            assert depth >= 0, "end without a block"
            continue
        else:
            raise AssertionError(f"not a sequenceDiagram statement: {line!r}")
        bare = ENTITY.sub("", text_part)
        assert ";" not in bare and "#" not in bare, f"unescaped ; or # in {line!r}"
        assert text_part.strip(), f"empty text in {line!r}"
    assert depth == 0, "unbalanced rect/end"
    assert counts["participants"] >= 2
    return counts


def test_every_fixture_parses(fixture_doc: tuple[str, dict[str, Any]]) -> None:
    name, doc = fixture_doc
    d = build_diagram(doc)
    text = render_mermaid(d)
    counts = validate(text)
    assert counts["participants"] == len(d.lanes)
    assert text == render_mermaid(build_diagram(doc))
    check_golden(f"{name}.mmd", text)


def test_failures_use_cross_arrows_in_red_blocks_with_the_summary() -> None:
    text = render_mermaid(build_diagram(load_fixture("multi_vantage_pasv")))
    assert "NET-xSR: " in text
    block = text[text.index("NET-xSR"):]
    assert block.split("\n")[1].strip().startswith("Note over SR: DATA_SYN_UNANSWERED")
    assert "rect rgba(220, 38, 38, 0.12)" in text


def test_explain_parses() -> None:
    for mode in ("port", "pasv", "both"):
        validate(render_mermaid(explain(mode, (50000, 50010)).diagram))


def test_markdown_fence() -> None:
    md = render_markdown(build_diagram(load_fixture("port_ok")))
    assert md.startswith("```mermaid\nsequenceDiagram\n") and md.endswith("```\n")


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [("a;b", "a#59;b"), ("#1", "#35;1"), ("<br>", "#lt;br#gt;"), ("50%", "50#37;"),
     ("x\ny", "x y")],
)
def test_escape(raw: str, escaped: str) -> None:
    assert escape(raw) == escaped


def test_validator_rejects_broken_text() -> None:
    good = "sequenceDiagram\n    participant C as c\n    participant S as s\n    C->>S: hi\n"
    validate(good)
    for bad in (good + "    C->>X: undeclared\n", good + "    C->>S: a;b\n",
                good + "    rect rgb(1,2,3)\n", good + "    end\n",
                good.replace("sequenceDiagram", "graph TD"), good + "    Note over X: n\n"):
        with pytest.raises(AssertionError):
            validate(bad)
