"""Findings of a multi-vantage analysis: one per problem, placed by the path.

The single-capture rules run on the merged trace (one copy of each session, the one nearest
the client). Copies from other captures add only what that copy cannot show (a 227 reply
before the server's router rewrote it, say), never a second verdict on the same data
channel. Then every failed connection's finding takes its `where` from the path, helper
rewrites and misses become findings, and a TLS session behind NAT is charged to the router
whose helper it blinds.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace

from ftptrace.correlate.alg import Missed, Rewrite
from ftptrace.correlate.merge import Merged
from ftptrace.correlate.path import Path
from ftptrace.diagnose.findings import Code, Finding, Severity, Where
from ftptrace.diagnose.rules import diagnose
from ftptrace.model import Connection, DataChannel, FrameRef, Outcome, Session, Trace

FATE = frozenset({
    Code.DATA_REFUSED,
    Code.DATA_SYN_UNANSWERED,
    Code.DATA_UNREACHABLE,
    Code.ACTIVE_CONNECT_FAILED,
    Code.TRANSFER_FAILED,
    Code.CONTROL_REFUSED,
    Code.CONTROL_UNANSWERED,
    Code.CONTROL_UNREACHABLE,
    Code.DATA_NEVER_ARRIVED,
})
"""One verdict per connection: what became of it. The nearest copy's, placed by the path."""
ADDRESS = frozenset({
    Code.PASV_PRIVATE_ADDRESS,
    Code.PASV_ADDRESS_MISMATCH,
    Code.PASV_THIRD_PARTY,
    Code.PORT_PRIVATE_ADDRESS,
})
ACROSS = frozenset({Code.PASSIVE_RANGE_PARTIALLY_FORWARDED, Code.CAPTURE_DAMAGED})
"""Verdicts about several sessions or a whole capture: made once, on the merged trace."""
_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
Subject = tuple[object, ...]


def findings(merged: Merged) -> tuple[Finding, ...]:
    index = _subjects(merged)
    corr = merged.correlation
    out = list(diagnose(merged.trace))

    def subject(f: Finding) -> Subject | None:
        for r in f.evidence:
            key = index.get((r.capture, r.frame))
            if key is not None:
                return key
        return None

    def family(f: Finding) -> object:
        return "fate" if f.code in FATE else f.code

    global_codes = {f.code for f in out if f.code in ACROSS}

    rewritten = {("c", r_session, r_channel) for r_session, r_channel in _rewritten(merged)}
    present = {(subject(f), family(f)) for f in out}
    for gi, g in enumerate(merged.groups):
        for i, s in g.copies.items():
            if i == g.rep:
                continue
            for f in diagnose(Trace(captures=(), sessions=(s,))):
                if f.code is Code.DATA_NEVER_ARRIVED or f.code in global_codes:
                    # A capture nearer the client shows whether the client tried; a verdict
                    # across sessions (the passive range) is already made on the merged trace.
                    continue
                key = subject(f) or ("s", gi)
                if (key, family(f)) in present or (f.code in ADDRESS and key in rewritten):
                    continue
                present.add((key, family(f)))
                out.append(f)
    patched = []
    for f in out:
        about = subject(f)
        path = _path_for(merged, about)
        if f.code is Code.DATA_NOT_CAPTURED and path is not None:
            continue  # another capture did see its packets
        if f.code in FATE and path is not None and not path.ok:
            f = replace(
                f,
                where=path.where or f.where,
                summary=f"{f.summary}; {path.how}",
                evidence=_dedupe(f.evidence + path.evidence),
            )
        elif f.code is Code.CONTROL_ENCRYPTED and about is not None:
            f = _tls(f, merged, about)
        patched.append(f)
    patched += [_rewrite_finding(r, merged) for r in corr.rewrites]
    patched += [_missed_finding(x) for x in corr.missed]
    patched += list(_blind_helpers(merged))
    return tuple(sorted(patched, key=_sort_key))


def _sort_key(f: Finding) -> tuple[object, ...]:
    first = f.evidence[0] if f.evidence else None
    return (_ORDER[f.severity], first.capture if first else "", first.frame if first else 0,
            f.code)


def _dedupe(refs: tuple[FrameRef, ...]) -> tuple[FrameRef, ...]:
    return tuple(dict.fromkeys(r for r in refs if r.frame > 0))


# --- which session / channel / attempt a finding is about ------------------------------------


def _session_frames(s: Session) -> Iterator[int]:
    yield from _conn_frames(s.control)
    for c in s.commands:
        yield c.ref.frame
        yield from (r.ref.frame for r in c.replies)


def _conn_frames(c: Connection | None) -> Iterator[int]:
    if c is None:
        return
    for r in (c.syn, c.synack, c.rst.ref if c.rst else None, c.icmp.ref if c.icmp else None):
        if r is not None:
            yield r.frame


def _channel_frames(ch: DataChannel) -> Iterator[int]:
    yield ch.announced_ref.frame
    if ch.announce_reply is not None:
        yield ch.announce_reply.ref.frame
    if ch.command is not None:
        yield from (r.ref.frame for r in ch.command.replies)
    yield from _conn_frames(ch.connection)


def _subjects(merged: Merged) -> dict[tuple[str, int], Subject]:
    """(capture, frame) -> what it belongs to; channel frames win over session frames."""
    index: dict[tuple[str, int], Subject] = {}
    for gi, g in enumerate(merged.groups):
        for s in g.copies.values():
            for fr in _session_frames(s):
                index.setdefault((s.capture, fr), ("s", gi))
        for k, copies in enumerate(g.channels):
            for i, ch in copies.items():
                cap = g.copies[i].capture
                for fr in _channel_frames(ch):
                    index[(cap, fr)] = ("c", gi, k)
    caps = merged.trace.captures
    for ai, tries in enumerate(merged.attempts):
        for i, c in tries.items():
            cap = caps[i].path
            for fr in _conn_frames(c):
                index[(cap, fr)] = ("a", ai)
    return index


def _path_for(merged: Merged, key: Subject | None) -> Path | None:
    if key is None:
        return None
    corr = merged.correlation
    if key[0] == "c":
        _, data = corr.session_paths(int(str(key[1])))
        return data.get(int(str(key[2])))
    if key[0] == "s":
        control, _ = corr.session_paths(int(str(key[1])))
        return control
    if key[0] == "a":
        return corr.attempt_path(int(str(key[1])))
    return None


def _rewritten(merged: Merged) -> set[tuple[int, int]]:
    out = set()
    for r in merged.correlation.rewrites:
        for gi, g in enumerate(merged.groups):
            for k, copies in enumerate(g.channels):
                if any(ch is r.before.channel or ch is r.after.channel for ch in copies.values()):
                    out.add((gi, k))
    return out


# --- new findings ----------------------------------------------------------------------------


def _rewrite_finding(r: Rewrite, merged: Merged) -> Finding:
    box = r.where.value if r.where is not None else f"a box between {r.before.name} and " \
        f"{r.after.name}"
    what = "command" if r.to_server else "reply"
    direction = "client→server" if r.to_server else "server→client"
    shift = "" if r.shift is None else (
        f"; later {direction} TCP sequence numbers shift by {r.shift:+d} ({r.shift_basis})")
    ok = r.after.channel.outcome is Outcome.ESTABLISHED or r.before.channel.outcome is (
        Outcome.ESTABLISHED)
    if r.to_server:
        hint = ("The client's router has an FTP helper (ALG) that puts its public address "
                "into PORT/EPRT and lets the server's connection in: active mode works only "
                "thanks to it, and stops under AUTH TLS or on a control port it does not "
                "watch. Passive mode needs no helper on the client's side.")
    else:
        hint = ("The server announces an address its clients cannot use and the router's FTP "
                "helper fixes the 227 reply in flight: it keeps working only while the "
                "control channel is plain text on a port the helper watches. Announce the "
                "public address from the server (vsftpd: pasv_address=PUBLIC_IP) and forward "
                "the passive range, so FTPS works too.")
    return Finding(
        code=Code.ALG_REWRITE,
        severity=Severity.INFO if ok else Severity.WARNING,
        where=r.where or Where.UNKNOWN,
        summary=f"{box} rewrote the {what} in flight: '{r.before_text}' at {r.before.name} "
        f"became '{r.after_text}' at {r.after.name}{shift}",
        hint=hint,
        evidence=_dedupe((r.before_ref, r.after_ref)),
    )


def _missed_finding(x: Missed) -> Finding:
    box = x.where.value if x.where is not None else f"the box between {x.near.name} and " \
        f"{x.far.name}"
    if x.near.channel.passive:
        hint = ("Announce the public address from the server (vsftpd: pasv_address=PUBLIC_IP; "
                "proftpd: MasqueradeAddress), or use EPSV; a router FTP helper can fix plain "
                "FTP only.")
    else:
        hint = ("Use passive mode, or enable the FTP helper on the client's router (Linux: "
                "`ct helper set \"ftp\"` in nft, or `-j CT --helper ftp` in the raw table, "
                "for TCP port 21); under TLS only passive mode can work.")
    return Finding(
        code=Code.ALG_MISSED,
        severity=Severity.WARNING,
        where=x.where or Where.UNKNOWN,
        summary=f"'{x.text}' crossed {box}'s NAT unchanged ({x.inside} became {x.outside} "
        f"there, the address inside the line did not): {x.cause}",
        hint=hint,
        evidence=(x.ref,),
    )


def _nat_on(control: Path) -> tuple[bool, bool]:
    """(server address translated, client address translated) along the control path."""
    seen = [h for h in control.hops if h.seen]
    pairs = list(itertools.pairwise(seen))
    return any(a.resp != b.resp for a, b in pairs), any(a.orig != b.orig for a, b in pairs)


def _blind_helpers(merged: Merged) -> Iterator[Finding]:
    """TLS sessions through NAT whose data connection died at that NAT: the helper that
    would have opened the way could not read the PASV/PORT exchange (RFC 4217 §4)."""
    for gi, g in enumerate(merged.trace.sessions):
        control, data = merged.correlation.session_paths(gi)
        if not g.tls or control is None:
            continue
        server_nat, client_nat = _nat_on(control)
        for k, path in sorted(data.items()):
            ch = g.data_channels[k]
            router = Where.SERVER_ROUTER if ch.passive else Where.CLIENT_ROUTER
            if path.ok or path.where is not router or not (
                    server_nat if ch.passive else client_nat):
                continue
            what = "227 reply" if ch.passive else "PORT/EPRT command"
            yield Finding(
                code=Code.ALG_MISSED,
                severity=Severity.WARNING,
                where=router,
                summary=f"the control channel is encrypted (AUTH TLS): the {router.value}'s "
                f"FTP helper could not read the {what}, so it opened nothing for the data "
                f"connection to port {ch.expected.resp_port}, which died there",
                hint="Under FTPS only the server's own settings help: forward the whole "
                "passive range and announce the public address from the server "
                "(vsftpd: pasv_address, pasv_min_port/pasv_max_port).",
                evidence=path.evidence,
            )
            break


def _tls(f: Finding, merged: Merged, key: Subject) -> Finding:
    """A TLS control connection through NAT: the helper that would rewrite PORT/PASV is blind."""
    control, _ = merged.correlation.session_paths(int(str(key[1])))
    if control is None:
        return f
    server_nat, client_nat = _nat_on(control)
    if not (server_nat or client_nat):
        return f
    where = Where.SERVER_ROUTER if server_nat else Where.CLIENT_ROUTER
    return replace(
        f,
        where=where,
        summary=f"{f.summary}; it is translated at the {where.value}, whose FTP helper cannot "
        "read (or rewrite) PORT/PASV inside TLS",
    )
