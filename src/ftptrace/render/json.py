"""The stable, versioned JSON document (`ftptrace/1`) shared by replay, probes and diagrams.

Keys promised in the schema never change meaning within a version; additions (frame
numbers, correlation paths) are optional keys a consumer may ignore.
"""

from __future__ import annotations

import json as _json
import shutil
import tempfile
from collections.abc import Iterable
from json.encoder import encode_basestring as _jstr
from math import isfinite
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
    per line) as soon as it is over, and its findings are spooled to a temporary file
    until the closing `findings` array. The result parses to the same document
    `to_document` builds; only the key order and white space differ.

    Sessions and findings are written by `session_line` and `finding_line` rather than
    through the dicts of `to_document`: they run once per session of a capture of any
    size, and building the dicts only to encode them again cost more than the encoding.
    """

    _FLUSH_AT = 1 << 16
    """Findings text gathered before it goes to the spool: each spool write asks the
    underlying text file for its position (a slow call), so write in batches."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._sessions = 0
        # Closed in finish(); a writer abandoned by an exception is closed by the GC.
        self._spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=4 << 20, mode="w+", encoding="utf-8"
        )
        self._findings = 0
        self._pending: list[str] = []
        self._pending_chars = 0
        out.write(f'{{"schema": "{SCHEMA}",\n "sessions": [')

    def _finding_lines(self, findings: Iterable[Finding]) -> None:
        pending = self._pending
        for f in findings:
            line = ("\n  " if not self._findings else ",\n  ") + finding_line(f)
            pending.append(line)
            self._pending_chars += len(line)
            self._findings += 1
        if self._pending_chars >= self._FLUSH_AT:
            self._flush()

    def _flush(self) -> None:
        self._spool.write("".join(self._pending))
        self._pending.clear()
        self._pending_chars = 0

    def session(self, s: Session, findings: Iterable[Finding]) -> None:
        self._out.write(("\n  " if not self._sessions else ",\n  ") + session_line(s))
        self._sessions += 1
        if findings:
            self._finding_lines(findings)

    def finish(self, trace: Trace, findings: Iterable[Finding]) -> None:
        """Close the document: captures and control attempts of `trace`, global findings."""
        self._finding_lines(findings)
        self._flush()
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


# The direct writers below produce exactly what `_compact` makes of the dicts above (a test
# holds them to it on every shipped capture and on generated odd values). They follow
# `_COMPACT`'s settings: strings through the same C function it uses with ensure_ascii=False
# (`_jstr`), ", " and ": " separators, ints as `int.__repr__`, floats as `float.__repr__`
# (NaN and infinities, which no capture timestamp is, go through `_COMPACT` itself), and
# True/False/None as true/false/null. Enum fields are StrEnums, whose text is their value,
# so they are encoded as they are (a plain Enum would raise, not differ). They rely on the
# model's declared field types: a bool field holding 1, say, would come out as true here
# and 1 there.

_LITERAL: dict[bool | None, str] = {True: "true", False: "false", None: "null"}


def _opt(text: str | None) -> str:
    return "null" if text is None else _jstr(text)


def _ts_text(ts: float) -> str:
    """`_compact(round(ts, 6))` for a command's time, without its two slow conversions.

    `round(ts, 6)` is the double D nearest to d, ts correctly rounded to 6 decimals (one
    dtoa call), and json writes D back with `float.__repr__`: the shortest digits that read
    back as D. Formatting with ".6f" gives d's digits from the same dtoa call. Between 1 and
    2**32 doubles are less than 1e-6 apart, so d is the only number of at most 6 decimals
    that reads back as D, any other string that does has a nonzero 7th decimal (it is
    longer), and repr writes D positionally: it writes d without its trailing zeros, keeping
    one digit after the point. Everything else (ints, tiny, huge, negative, NaN) takes the
    exact slow path; a test compares both on generated values.
    """
    if type(ts) is float and 1.0 <= ts < 4294967296.0:
        text = f"{ts:.6f}".rstrip("0")
        return text + "0" if text[-1] == "." else text
    r = round(ts, 6)
    return repr(r) if isfinite(r) else _COMPACT.encode(r)


_VERB_HEAD: dict[str, str] = {}
"""`, "command": VERB, "arg": ` per verb: verbs are few, but they come off the wire, so the
cache is emptied when it grows past `_VERB_HEAD_MAX`."""
_VERB_HEAD_MAX = 256


def _final_reply_text(c: Command) -> str:
    """`Command.reply` as JSON text, without its loop for the usual single reply (final or
    not, that one is what `reply` returns)."""
    replies = c.replies
    r = replies[0] if len(replies) == 1 else c.reply
    if r is None:
        return "null"
    return f'{{"code": {r.code}, "text": {_jstr(r.text)}, "frame": {r.ref.frame}}}'


def _commands_line(commands: tuple[Command, ...]) -> str:
    """The `commands` array: the longest part of a session, so its loop is kept flat."""
    parts: list[str] = []
    append = parts.append
    jstr = _jstr
    heads = _VERB_HEAD
    for c in commands:
        verb = c.verb
        head = heads.get(verb)
        if head is None:
            if len(heads) >= _VERB_HEAD_MAX:
                heads.clear()
            head = heads[verb] = f', "command": {jstr(verb)}, "arg": '
        arg = c.arg
        append(
            f'{{"ts": {_ts_text(c.ts)}, "frame": {c.ref.frame}{head}'
            f'{"null" if arg is None else jstr(arg)}, "reply": {_final_reply_text(c)}}}'
        )
    return "[" + ", ".join(parts) + "]"


def _channel_line(ch: DataChannel) -> str:
    """One data channel, its connection and its command's reply written inline (and the
    `bytes` and `Command.text` properties): this runs for every channel of every session."""
    cmd, ex, c = ch.command, ch.expected, ch.connection
    jstr = _jstr
    if cmd is None:
        command = command_reply = "null"
    else:
        arg = cmd.arg
        command = jstr(cmd.verb if arg is None else f"{cmd.verb} {arg}")
        command_reply = _final_reply_text(cmd)
    if c is None:
        connection = "null"
        nbytes = 0
    else:
        orig_ip, orig_port = c.orig
        resp_ip, resp_port = c.resp
        rst, icmp, syn, synack = c.rst, c.icmp, c.syn, c.synack
        nbytes = c.bytes_orig + c.bytes_resp
        rst_text = (
            "null"
            if rst is None
            else f'{{"frame": {rst.ref.frame}, "sender": {jstr(rst.sender)}, "ttl": {rst.ttl}, '
            f'"from_peer": {_LITERAL[rst.from_peer]}}}'
        )
        icmp_text = (
            "null"
            if icmp is None
            else f'{{"frame": {icmp.ref.frame}, "sender": {jstr(icmp.sender)}, '
            f'"kind": {jstr(icmp.kind)}}}'
        )
        connection = (
            f'{{"orig": {{"ip": {jstr(orig_ip)}, "port": {orig_port}}}, '
            f'"resp": {{"ip": {jstr(resp_ip)}, "port": {resp_port}}}, '
            f'"syn_frame": {"null" if syn is None else syn.frame}, '
            f'"syn_count": {c.syn_count}, '
            f'"synack_frame": {"null" if synack is None else synack.frame}, '
            f'"rst": {rst_text}, "icmp": {icmp_text}, "outcome": {jstr(c.outcome)}}}'
        )
    ann, matched = ch.announced_ip, ch.matched_by
    return (
        f'{{"via": {jstr(ch.via)}, "passive": {_LITERAL[ch.passive]}, '
        f'"announced": {{"ip": {"null" if ann is None else jstr(ann)}, '
        f'"port": {ch.announced_port}}}, '
        f'"announced_frame": {ch.announced_ref.frame}, '
        f'"expected": {{"orig_ip": {jstr(ex.orig_ip)}, "resp_ip": {jstr(ex.resp_ip)}, '
        f'"resp_port": {ex.resp_port}}}, '
        f'"command": {command}, "command_reply": {command_reply}, '
        f'"outcome": {jstr(ch.outcome)}, "inferred": {_LITERAL[ch.inferred]}, '
        f'"matched_by": {"null" if matched is None else jstr(matched)}, '
        f'"connection": {connection}, "bytes": {nbytes}}}'
    )


def session_line(s: Session) -> str:
    """One session as compact JSON text: the same as `_compact(_session(s))`, faster."""
    client_ip, client_port = s.client
    server_ip, server_port = s.server
    control = s.control
    syn = control.syn
    return (
        f'{{"capture": {_jstr(s.capture)}, '
        f'"client": {{"ip": {_jstr(client_ip)}, "port": {client_port}}}, '
        f'"server": {{"ip": {_jstr(server_ip)}, "port": {server_port}}}, '
        f'"user": {_opt(s.user)}, "tls": {_LITERAL[s.tls]}, '
        f'"login_ok": {_LITERAL[s.login_ok]}, '
        f'"control": {{"outcome": {_jstr(control.outcome)}, '
        f'"syn_frame": {"null" if syn is None else syn.frame}}}, '
        f'"commands": {_commands_line(s.commands)}, '
        f'"data_channels": [{", ".join([_channel_line(ch) for ch in s.data_channels])}]}}'
    )


def finding_line(f: Finding) -> str:
    """One finding as compact JSON text: the same as `_compact(finding_dict(f))`, faster."""
    evidence = ", ".join(
        [f'{{"capture": {_jstr(r.capture)}, "frame": {r.frame}}}' for r in f.evidence]
    )
    return (
        f'{{"code": {_jstr(f.code)}, "severity": {_jstr(f.severity)}, '
        f'"where": {_jstr(f.where)}, "summary": {_jstr(f.summary)}, '
        f'"hint": {_jstr(f.hint)}, "evidence": [{evidence}]}}'
    )
