"""Rich terminal report: sessions, transcript, data channels with their fate, findings.

The only place (with the other renderers) that imports rich. Passwords are already masked
in the model; nothing here ever sees one.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO, cast

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ftptrace.diagnose.findings import Finding, Severity
from ftptrace.model import DataChannel, Outcome, Session
from ftptrace.render.json import HasTraceAndFindings

OUTCOME_STYLE = {
    Outcome.ESTABLISHED: "green",
    Outcome.REFUSED: "red",
    Outcome.UNANSWERED: "red",
    Outcome.UNREACHABLE: "red",
    Outcome.NOT_ATTEMPTED: "yellow",
    Outcome.FAILED: "red",
    Outcome.UNKNOWN: "dim",
}
SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def transcript(session: Session, limit: int = 60) -> Text:
    """The control dialogue as if typed by hand: → command, ← reply."""
    out = Text()
    if session.banner:
        out.append(f"← {session.banner.splitlines()[0]}\n", style="dim")
    for cmd in session.commands[:limit]:
        out.append(f"→ {cmd.text}\n", style="bold")
        for r in cmd.replies:
            first, *rest = (r.text or "").splitlines() or [""]
            out.append(
                f"← {r.code} {first}".rstrip() + "\n", style="green" if r.code < 400 else "red"
            )
            for line in rest[:3]:
                out.append(f"  {line}\n", style="dim")
    if len(session.commands) > limit:
        out.append(f"… {len(session.commands) - limit} more commands\n", style="dim")
    return out


def channel_table(channels: tuple[DataChannel, ...]) -> Table:
    table = Table(show_edge=False, pad_edge=False, expand=False)
    for col in ("#", "mode", "announced", "for", "seen on the wire", "fate"):
        table.add_column(col, overflow="fold")
    for i, ch in enumerate(channels, 1):
        ann = f"{ch.announced_ip or '(peer)'}:{ch.announced_port}"
        conn = ch.connection
        # The originating host is the client (passive) or the server (active): its port
        # is what matters; the responding endpoint is shown in full.
        seen = f":{conn.orig.port} → {conn.resp}" if conn is not None else "—"
        fate = ch.outcome.value + (" (inferred)" if ch.inferred else "")
        if conn is not None and conn.rst is not None:
            fate += f" by {conn.rst.sender}"
        if conn is not None and conn.icmp is not None:
            fate += f": {conn.icmp.kind} from {conn.icmp.sender}"
        if conn is not None and ch.outcome is Outcome.UNANSWERED:
            fate += f" ({conn.syn_count} SYN)"
        table.add_row(
            str(i),
            ch.via,
            ann,
            escape(ch.command.text) if ch.command else "—",
            seen,
            Text(fate, style=OUTCOME_STYLE[ch.outcome]),
        )
    return table


def finding_block(f: Finding) -> Text:
    t = Text()
    t.append(f"{f.severity.value.upper():7} ", style=SEVERITY_STYLE[f.severity])
    t.append(f"{f.code.value}", style="bold")
    t.append(f"  [{f.where.value}]\n")
    t.append(f"  {f.summary}\n")
    t.append(f"  fix: {f.hint}\n", style="dim")
    if f.evidence:
        by_capture: dict[str, list[str]] = {}
        for r in f.evidence[:8]:
            frames = by_capture.setdefault(r.capture, [])
            if f"#{r.frame}" not in frames:
                frames.append(f"#{r.frame}")
        where = "; ".join(f"{cap} frame {', '.join(fr)}" for cap, fr in by_capture.items())
        t.append(f"  evidence: {where}\n", style="dim")
    return t


def render_analysis(analysis: HasTraceAndFindings, console: Console) -> None:
    trace = analysis.trace
    for cap in trace.captures:
        label = f" \\[{escape(cap.vantage)}]" if cap.vantage else ""
        console.print(
            f"[bold]{escape(cap.path)}[/bold]{label}: {cap.packets} packets, "
            f"{sum(1 for s in trace.sessions if s.capture == cap.path)} FTP session(s)"
        )
    for s in trace.sessions:
        title = f"{s.client} → {s.server}  user={s.user or '—'}" + ("  TLS" if s.tls else "")
        parts: list[Text | Table] = [transcript(s)]
        if s.data_channels:
            parts.append(channel_table(s.data_channels))
        console.print(Panel(Group(*parts), title=escape(title), title_align="left"))
    for c in trace.control_attempts:
        console.print(f"control attempt {c.orig} → {c.resp}: {c.outcome.value}")
    if analysis.findings:
        console.print("[bold]Findings[/bold]")
        for f in analysis.findings:
            console.print(finding_block(f))
    else:
        console.print("[green]No problems found.[/green]")


_C1 = {c: "\ufffd" for c in range(0x80, 0xA0)}


def terminal_safe(text: str) -> str:
    """`text` with C1 control characters (U+0080-U+009F) replaced by U+FFFD.

    C0 controls never reach a model (a line holding one is binary garbage), but C1 ones
    decode from UTF-8 or latin-1 replies; many terminals obey U+009B (CSI) and U+009D
    (OSC), so a hostile server could otherwise redraw the screen or set the clipboard.
    """
    return text if text.isascii() else text.translate(_C1)


class _TerminalSafe:
    """A text stream that passes every write through `terminal_safe` (rich's own styling
    uses ESC, a C0 control, and is unaffected)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(terminal_safe(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def make_console(*, stderr: bool = False) -> Console:
    """The console every command prints through (colour only on a terminal)."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(highlight=False, stderr=stderr, file=cast(TextIO, _TerminalSafe(stream)))
