"""Rich rendering of a multi-vantage correlation: capture order, NAT mappings, paths."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ftptrace.correlate.report import Correlation


def render_correlation(corr: Correlation, console: Console) -> None:
    order = " → ".join(p.name for p in corr.points)
    console.print(Text("Along the path: ", style="bold") + Text(order))
    if corr.order_inferred:
        console.print(Text(f"  ({corr.order_basis})", style="yellow"))
    for note in corr.notes:
        if not note.startswith("capture order"):
            console.print(Text(f"  note: {note}", style="dim"))
    if corr.nat_mappings:
        t = Table(title="NAT mappings", title_justify="left", show_edge=False, pad_edge=False)
        for col in ("router", "kind", "inside", "outside", "seen between", "for"):
            t.add_column(col)
        for m in corr.nat_mappings:
            t.add_row(
                m.router.value if m.router else "?",
                f"{m.kind} ({m.role})",
                str(m.inside),
                str(m.outside),
                f"{m.between[0]} / {m.between[1]}",
                m.connection,
            )
        console.print(t)
    if corr.connections:
        t = Table(title="Connections hop by hop", title_justify="left", show_edge=False,
                  pad_edge=False)
        for col in ("#", "connection", "last seen", "stopped at", "what the captures show"):
            t.add_column(col, overflow="fold")
        for c in corr.connections:
            who = c.kind if c.session is None else f"session {c.session + 1} {c.kind}"
            if c.channel is not None:
                who += f" #{c.channel + 1} {c.label}"
            stop = Text("—", style="green") if c.path.ok else Text(
                c.path.where.value if c.path.where else "?", style="red")
            t.add_row(str(len(t.rows) + 1), escape(who), c.path.last_seen or "—", stop,
                      escape(c.path.how))
        console.print(t)
