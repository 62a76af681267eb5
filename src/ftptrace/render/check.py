"""Rich rendering of `ftptrace check`: one row per step, then what to look at."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ftptrace.check.ladder import CheckReport
from ftptrace.check.steps import Status

STYLE = {Status.PASS: "green", Status.FAIL: "bold red", Status.SKIPPED: "dim"}
STANDING = {"server": "on the server", "lan": "from the server's LAN",
            "internet": "from outside the server's LAN"}


def render_check(r: CheckReport, console: Console) -> None:
    console.print(Text(f"ftptrace check {r.host} — {STANDING.get(r.standing, r.standing)}",
                       style="bold"))
    t = Table(show_edge=False, pad_edge=False)
    for col in ("#", "step", "guide", "result", "time", "what was seen"):
        t.add_column(col, overflow="fold")
    for i, s in enumerate(r.steps, 1):
        seen = escape(s.summary)
        if s.warnings:
            seen += "".join(f"\n[yellow]! {escape(w)}[/yellow]" for w in s.warnings)
        t.add_row(str(i), s.spec.title, s.spec.guide, Text(s.status.value, STYLE[s.status]),
                  f"{s.seconds:.1f}s" if s.status is not Status.SKIPPED else "", seen)
    console.print(t)
    for s in r.steps:
        if s.status is not Status.FAIL:
            continue
        console.print(Text(f"\n{s.spec.title}: failed", style="bold red"))
        for line in s.evidence[-12:]:
            console.print(Text(f"  {line}", style="dim"))
        if s.checklist:
            console.print(Text(f"  what to check (table {s.spec.table}):", style="bold"))
            for item in s.checklist:
                console.print(Text(f"  - {item}"))
    first = r.first_failure
    if first is None:
        console.print(Text("\nEvery step that could run passed.", style="green"))
    else:
        console.print(Text(f"\nStart with the first failing step: {first.spec.title}.",
                           style="bold"))
