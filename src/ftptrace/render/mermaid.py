"""Mermaid `sequenceDiagram` text of a `Diagram`, for Markdown that GitHub renders.

Mermaid has no per-arrow colour, so a failure is drawn with the cross arrow (`-x`, ending at
the lane where the connection died) inside a red `rect` block, and the finding's summary as a
`Note` beside it. Text is escaped with Mermaid's entity codes (`#59;` …) because `;` ends a
statement and `#` starts an entity; participant ids are fixed short names so the output is
deterministic.
"""

from __future__ import annotations

from ftptrace.render.diagram_model import Arrow, Diagram, Note, Role, Section, Status

IDS: dict[Role, str] = {
    Role.CLIENT: "C",
    Role.CLIENT_ROUTER: "CR",
    Role.INTERNET: "NET",
    Role.SERVER_ROUTER: "SR",
    Role.SERVER: "S",
}

_RECT = {
    Status.FAILED: "rgba(220, 38, 38, 0.12)",
    Status.WARNING: "rgba(234, 179, 8, 0.15)",
}
_ENTITIES = {"#": "#35;", ";": "#59;", "<": "#lt;", ">": "#gt;", "\n": " ", "%": "#37;",
             "{": "#123;", "}": "#125;"}


def escape(text: str) -> str:
    """Text safe inside a Mermaid message, note or alias."""
    return "".join(_ENTITIES.get(ch, ch) for ch in text).strip()


def _arrow(a: Arrow) -> str:
    ops = {(False, False): "->>", (True, False): "-->>", (False, True): "-x", (True, True): "--x"}
    op = ops[(a.reply, a.died_at is not None)]
    return f"    {IDS[a.src]}{op}{IDS[a.end]}: {escape(a.label)}"


def _over(roles: tuple[Role, ...]) -> str:
    ids = [IDS[roles[0]]] + ([IDS[roles[-1]]] if roles[-1] != roles[0] else [])
    return ",".join(ids)


def render_mermaid(diagram: Diagram) -> str:
    """A complete `sequenceDiagram` (no Markdown fence), one line per statement."""
    lines = ["sequenceDiagram", f"    title {escape(diagram.title)}"]
    for lane in diagram.lanes:
        alias = "<br/>".join([lane.title, *(escape(d) for d in lane.details)])
        lines.append(f"    participant {IDS[lane.role]} as {alias}")
    first, last = diagram.lanes[0].role, diagram.lanes[-1].role
    for step in diagram.steps:
        if isinstance(step, Section):
            lines.append(f"    Note over {_over((first, last))}: {escape(step.title)}")
        elif isinstance(step, Note):
            lines.append(f"    Note over {_over(step.over)}: {escape(step.text)}")
        elif isinstance(step, Arrow):
            colour = _RECT.get(step.status)
            body = [_arrow(step)]
            for note in step.notes:
                body.append(f"    Note over {_over((step.end,))}: {escape(note)}")
            if colour:
                lines.append(f"    rect {colour}")
                lines.extend("  " + b for b in body)
                lines.append("    end")
            else:
                lines.extend(body)
    return "\n".join(lines) + "\n"


def render_markdown(diagram: Diagram) -> str:
    """The diagram in a ```mermaid fence, ready to paste into an issue or README."""
    return "```mermaid\n" + render_mermaid(diagram) + "```\n"
