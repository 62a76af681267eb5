"""The stable, versioned JSON document (`ftptrace/1`) shared by replay, probes and diagrams.

Keys promised in the schema never change meaning within a version; additions (frame
numbers, correlation paths) are optional keys a consumer may ignore.
"""

from __future__ import annotations

import json as _json
import shutil
import tempfile
from collections.abc import Iterable
from typing import Any, Protocol, TextIO

from ftptrace.diagnose.findings import Finding
from ftptrace.model import CaptureInfo, Command, Connection, DataChannel, Reply, Session, Trace

SCHEMA = "ftptrace/1"


class HasTraceAndFindings(Protocol):
    @property
    def trace(self) -> Trace: ...

    @property
    def findings(self) -> tuple[Finding, ...]: ...


def _ep(ip: str, port: int) -> dict[str, Any]:
    return {"ip": ip, "port": port}


def _reply(r: Reply | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {"code": r.code, "text": r.text, "frame": r.ref.frame}


def _command(c: Command) -> dict[str, Any]:
    return {
        "ts": round(c.ts, 6),
        "frame": c.ref.frame,
        "command": c.verb,
        "arg": c.arg,
        "reply": _reply(c.reply),
    }


def _connection(c: Connection | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "orig": _ep(*c.orig),
        "resp": _ep(*c.resp),
        "syn_frame": c.syn.frame if c.syn else None,
        "syn_count": c.syn_count,
        "synack_frame": c.synack.frame if c.synack else None,
        "rst": None
        if c.rst is None
        else {
            "frame": c.rst.ref.frame,
            "sender": c.rst.sender,
            "ttl": c.rst.ttl,
            "from_peer": c.rst.from_peer,
        },
        "icmp": None
        if c.icmp is None
        else {"frame": c.icmp.ref.frame, "sender": c.icmp.sender, "kind": c.icmp.kind},
        "outcome": c.outcome.value,
    }


def _channel(ch: DataChannel) -> dict[str, Any]:
    return {
        "via": ch.via,
        "passive": ch.passive,
        "announced": {"ip": ch.announced_ip, "port": ch.announced_port},
        "announced_frame": ch.announced_ref.frame,
        "expected": {
            "orig_ip": ch.expected.orig_ip,
            "resp_ip": ch.expected.resp_ip,
            "resp_port": ch.expected.resp_port,
        },
        "command": ch.command.text if ch.command else None,
        "command_reply": _reply(ch.command.reply) if ch.command else None,
        "outcome": ch.outcome.value,
        "inferred": ch.inferred,
        "matched_by": ch.matched_by,
        "connection": _connection(ch.connection),
        "bytes": ch.bytes,
    }


def _session(s: Session) -> dict[str, Any]:
    return {
        "capture": s.capture,
        "client": _ep(*s.client),
        "server": _ep(*s.server),
        "user": s.user,
        "tls": s.tls,
        "login_ok": s.login_ok,
        "control": {
            "outcome": s.control.outcome.value,
            "syn_frame": s.control.syn.frame if s.control.syn else None,
        },
        "commands": [_command(c) for c in s.commands],
        "data_channels": [_channel(ch) for ch in s.data_channels],
    }


def _capture(c: CaptureInfo) -> dict[str, Any]:
    return {
        "path": c.path,
        "vantage": c.vantage,
        "packets": c.packets,
        "warnings": list(c.warnings),
    }


def finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "code": f.code.value,
        "severity": f.severity.value,
        "where": f.where.value,
        "summary": f.summary,
        "hint": f.hint,
        "evidence": [{"capture": r.capture, "frame": r.frame} for r in f.evidence],
    }


def to_document(analysis: HasTraceAndFindings) -> dict[str, Any]:
    """The `ftptrace/1` document for an analysis (replay or probe)."""
    t = analysis.trace
    return {
        "schema": SCHEMA,
        "captures": [_capture(c) for c in t.captures],
        "sessions": [_session(s) for s in t.sessions],
        "control_attempts": [_connection(c) for c in t.control_attempts],
        "findings": [finding_dict(f) for f in analysis.findings],
    }


def dumps(doc: dict[str, Any]) -> str:
    """Deterministic text: same analysis, same bytes (golden files depend on it)."""
    return _json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


class DocumentWriter:
    """Writes the `ftptrace/1` document while sessions are still being found.

    Memory stays flat whatever the capture size: each session is written (compact, one
    per line, by the C encoder) as soon as it is over, and its findings are spooled to a
    temporary file until the closing `findings` array. The result parses to the same
    document `to_document` builds; only the key order and white space differ.
    """

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._sessions = 0
        # Closed in finish(); a writer abandoned by an exception is closed by the GC.
        self._spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=4 << 20, mode="w+", encoding="utf-8"
        )
        self._findings = 0
        out.write(f'{{"schema": "{SCHEMA}",\n "sessions": [')

    def _finding_lines(self, findings: Iterable[Finding]) -> None:
        for f in findings:
            self._spool.write(
                ("\n  " if not self._findings else ",\n  ") + _compact(finding_dict(f))
            )
            self._findings += 1

    def session(self, s: Session, findings: Iterable[Finding]) -> None:
        self._out.write(("\n  " if not self._sessions else ",\n  ") + _compact(_session(s)))
        self._sessions += 1
        self._finding_lines(findings)

    def finish(self, trace: Trace, findings: Iterable[Finding]) -> None:
        """Close the document: captures and control attempts of `trace`, global findings."""
        self._finding_lines(findings)
        out = self._out
        out.write("\n ],\n" if self._sessions else "],\n")
        captures = [_capture(c) for c in trace.captures]
        out.write(f' "captures": {_compact(captures)},\n')
        out.write(
            f' "control_attempts": {_compact([_connection(c) for c in trace.control_attempts])},\n'
        )
        out.write(' "findings": [')
        self._spool.seek(0)
        shutil.copyfileobj(self._spool, out)
        self._spool.close()
        out.write("\n ]}\n" if self._findings else "]}\n")


_COMPACT = _json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "), check_circular=False)
"""One line per value; documents are trees built fresh, so the cycle check is skipped."""


def _compact(value: Any) -> str:
    return _COMPACT.encode(value)
