"""What a live probe found beyond the shared `Trace`: the transcript and probe-only facts.

The `Analysis` (trace + findings) is the same value replay produces; `ProbeReport` holds
what only a probe can know (which address it chose to connect to and why, what each
socket call returned, what sudo would have added) and goes into the JSON document as the
optional `probe` and `transcript` keys of schema ftptrace/1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ftptrace.diagnose.findings import Severity
from ftptrace.probe.driver import Line
from ftptrace.replay import Analysis


@dataclass(frozen=True, slots=True, kw_only=True)
class DataAttempt:
    """One data channel the probe tried to open (passive) or let the server open (active)."""

    index: int
    via: str
    command: str
    announced: str | None
    """The address as the server (passive) or we (active) wrote it, 'ip:port'."""
    dialed: str | None
    """Passive: where we connected. Active: where we listened."""
    choice: str = ""
    """Passive: why we connected there (the bounce rule …). Active: why the server's
    connection may not have arrived, when the packets cannot tell."""
    socket_result: str
    """Passive: established | refused | timeout | unreachable | error | skipped.
    Active: accepted | not-accepted | rejected | skipped."""
    detail: str = ""
    final_reply: str | None = None
    bytes: int = 0
    seconds: float = 0.0
    wire: str = ""
    """What the packets showed (root only): SYNs, SYN-ACK, RST and its TTL, ICMP and hop."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeReport:
    mode: str
    target: str
    control_port: int
    user: str
    credentials_from: str
    privileged: bool
    capture: str | None
    transcript: tuple[Line, ...]
    attempts: tuple[DataAttempt, ...]
    notes: tuple[str, ...] = ()
    needs_root: tuple[str, ...] = ()
    """What only sudo would have shown (empty when the probe could watch packets)."""
    seconds: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    """An `Analysis` (what every renderer takes) plus the probe's own report."""

    analysis: Analysis
    report: ProbeReport

    @property
    def failed(self) -> bool:
        """An error finding, or a probe that never got as far as a data channel: a server
        that stays silent, drips, or hangs up mid-login has not been shown to work."""
        return (any(f.severity is Severity.ERROR for f in self.analysis.findings)
                or self.stopped_early is not None)

    @property
    def stopped_early(self) -> str | None:
        """Why no data channel was tried, when none was (the last problem noted)."""
        if self.report.attempts:
            return None
        problems = [line.text for line in self.report.transcript if line.kind == "problem"]
        return problems[-1] if problems else "the server did not let the probe log in"


def attempt_dict(a: DataAttempt) -> dict[str, Any]:
    return {"index": a.index, "via": a.via, "command": a.command, "announced": a.announced,
            "dialed": a.dialed, "choice": a.choice or None, "socket_result": a.socket_result,
            "detail": a.detail or None, "final_reply": a.final_reply, "bytes": a.bytes,
            "seconds": round(a.seconds, 3), "wire": a.wire or None}


def probe_extras(r: ProbeReport) -> dict[str, Any]:
    """The optional keys a probe adds to the ftptrace/1 document."""
    return {
        "probe": {
            "mode": r.mode,
            "target": r.target,
            "control_port": r.control_port,
            "user": r.user,
            "credentials_from": r.credentials_from,
            "privileged": r.privileged,
            "capture": r.capture,
            "attempts": [attempt_dict(a) for a in r.attempts],
            "notes": list(r.notes),
            "needs_root": list(r.needs_root),
            "seconds": round(r.seconds, 3),
        },
        "transcript": [{"ts": round(line.ts, 6), "kind": line.kind, "text": line.text}
                       for line in r.transcript],
    }


def report_lines(r: ProbeReport) -> list[str]:
    """Plain text for the terminal: transcript, per-attempt results, notes (no rich here)."""
    out = [f"ftptrace {r.mode} {r.target} as {r.user} ({r.credentials_from})"
           + ("" if r.privileged else "  [socket level: run with sudo to watch packets]")]
    out += [line.render() for line in r.transcript]
    if r.attempts:
        out.append("")
        out.append("data channels:")
        for a in r.attempts:
            where = f" {a.dialed}" if a.dialed else ""
            head = f"  #{a.index} {a.via} {a.command}:{where} → {a.socket_result}"
            if a.detail:
                head += f" ({a.detail})"
            if a.final_reply:
                head += f"; server: {a.final_reply}"
            out.append(head)
            if a.choice:
                out.append(f"      {a.choice}")
            if a.wire:
                out.append(f"      wire: {a.wire}")
    if r.notes:
        out.append("")
        out += [f"note: {n}" for n in r.notes]
    if r.needs_root:
        out.append("")
        out.append("only sudo would have shown:")
        out += [f"  - {n}" for n in r.needs_root]
    return out
