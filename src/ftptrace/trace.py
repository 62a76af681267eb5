"""Build the immutable `Trace` from a stream of packets (live or replayed).

The builder is the expected-channel table of Zeek's FTP analyzer grown up: every
PORT/PASV/EPRT/EPSV/LPRT/LPSV announcement registers an expected connection (orig, resp_ip,
resp_port — RFC 959 §3.2 for who connects, RFC 2428 §2–3 for the extended forms); each
new TCP connection is matched against it by endpoint, or by port alone when the client
ignored the address in the 227 reply (curl, ftplib and FileZilla do). State is bounded:
idle connections expire, and nothing but control connections and expected data
connections is ever stored.

This module routes packets to connections and keeps that state bounded; what one control
connection's dialogue means is `session_draft`'s, and the live resolution used by
`ftptrace watch` is `trace_live`'s.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

from ftptrace.model import (
    CaptureInfo,
    Connection,
    FrameRef,
    Session,
    Trace,
    make_connection,
    make_frame_ref,
    make_icmp_report,
    make_rst,
)
from ftptrace.net.model import SYN, Endpoint, IcmpError, Packet, Segment
from ftptrace.net.prefilter import LivePorts
from ftptrace.net.reassembly import ConnState, HalfStream
from ftptrace.session_draft import (
    ACTIVE_VERBS,
    COMPLETED_CODES,
    EXPECT_SECONDS,
    FAILED_CODES,
    IDLE_SECONDS,
    TRANSFER_VERBS,
    DraftChannel,
    SessionDraft,
)
from ftptrace.trace_live import Resolved, drain_resolved

FTP_CONTROL_PORTS = frozenset({21})
_GREETINGS = (b"220 ", b"220-")
CLOSED_GRACE = 2.0
"""Seconds a closed connection is kept for late retransmissions before it is finished."""
MAX_ATTEMPTS = 10_000
SWEEP_EVERY = 32768


def wire_keys(orig: Endpoint, resp: Endpoint) -> tuple[bytes, bytes] | None:
    """`TraceBuilder.by_wire_key` keys of both directions; None for IPv6."""
    if ":" in orig.ip or ":" in resp.ip:
        return None
    a, b = socket.inet_aton(orig.ip), socket.inet_aton(resp.ip)
    ports = struct.pack("!HH", orig.port, resp.port)
    return a + b + ports, b + a + ports[2:] + ports[:2]


def _unanswered(st: ConnState) -> bool:
    """Only SYNs were seen (no SYN-ACK, no payload): an attempt the path swallowed."""
    return st.synack_frame is None and not st.saw_payload


def _expired(st: ConnState, idle: float, grace: float) -> bool:
    """Idle since before `idle`, or closed since before `grace` (`idle` < `grace`: the
    capture clock minus IDLE_SECONDS and CLOSED_GRACE). Written grace-first: most live
    state was seen within the grace period and fails that test at once."""
    last = st.last_ts
    return last < grace and (st.closed or last < idle)


def hop_distance(ttl: int) -> int:
    """Hops travelled, assuming the sender started from the next common initial TTL."""
    for initial in (32, 64, 128, 255):
        if ttl <= initial:
            return initial - ttl
    return 0


class TraceBuilder:
    """Feed packets of one capture (or one live interface); `finish()` returns the Trace."""

    def __init__(
        self,
        capture: CaptureInfo,
        control_ports: frozenset[int] = FTP_CONTROL_PORTS,
        on_session: Callable[[Session], None] | None = None,
    ):
        self.capture = capture
        self.on_session = on_session
        """Where finished sessions go as soon as they are over (streaming); None: kept and
        returned by `finish()`."""
        self.attempts_dropped = 0
        self.control_ports = control_ports
        self._conns: dict[tuple[Endpoint, Endpoint], ConnState] = {}
        self.by_wire_key: dict[bytes, tuple[ConnState, bool]] = {}
        """IPv4 connections by the 12 bytes source address, destination address, source
        port, destination port as they sit in an IPv4+TCP header, with whether that
        direction is orig → resp: lets `fastpath` route a plain segment without decoding."""
        self._sessions: dict[int, SessionDraft] = {}
        self._data: dict[int, tuple[SessionDraft, DraftChannel]] = {}
        self._expect: dict[int, list[tuple[SessionDraft, DraftChannel]]] = {}
        self._done: list[Session] = []
        self._attempts: list[Connection] = []
        self.encrypted: dict[tuple[str, str], SessionDraft] = {}
        """(client ip, server ip) of sessions whose control channel went TLS."""
        self._path = capture.path
        self._count = 0
        self._now = 0.0
        self.packets = 0
        self.ports = LivePorts(control_ports)
        """Ports whose every segment matters (control ports, announced data ports, tracked
        connections). A reader may pass this live set to `net.decode.decode(ports=...)` to
        drop bulk segments of other connections before any object is built; SYN/FIN/RST
        segments are kept regardless, so connection attempts are never lost."""

    # -- references and expectations -----------------------------------------------------
    def ref(self, frame: int) -> FrameRef:
        """The `FrameRef` of `frame` in this capture; one is built for nearly every control
        line, hence `make_frame_ref`. (A cache of them was dropped: on the bench captures no
        frame was ever looked up twice — the session draft reuses a reply's own ref.)"""
        return make_frame_ref(self._path, frame)

    def expect(self, session: SessionDraft, ch: DraftChannel) -> None:
        self._expect.setdefault(ch.expected.resp_port, []).append((session, ch))
        self.ports.add(ch.expected.resp_port)

    def forget(self, ch: DraftChannel) -> None:
        lst = self._expect.get(ch.expected.resp_port)
        if lst:
            lst[:] = [(s, c) for s, c in lst if c is not ch]
            if not lst:
                del self._expect[ch.expected.resp_port]

    # -- packets -------------------------------------------------------------------------
    def feed(self, pkt: Packet) -> None:
        self.packets += 1
        if type(pkt) is IcmpError:
            self._icmp(pkt)
            return
        assert isinstance(pkt, Segment)
        self._now = pkt.ts
        self._count += 1
        if self._count >= SWEEP_EVERY:
            self._count = 0
            self._sweep()
        st = self._conns.get((pkt.src, pkt.dst))
        if st is None:
            st = self._new_connection(pkt)
            if st is None:
                return
        st.update(pkt)

    def _new_connection(self, seg: Segment) -> ConnState | None:
        src, dst = seg.src, seg.dst
        syn_only = seg.is_syn
        if dst.port in self._expect or (not syn_only and src.port in self._expect):
            found = self._match_data(seg)
            if found is not None:
                return found
        if dst.port in self.control_ports or (not syn_only and src.port in self.control_ports):
            to_server = dst.port in self.control_ports and (
                syn_only or src.port not in self.control_ports
            )
            orig, resp = (src, dst) if (syn_only or to_server) else (dst, src)
            st = self._store(orig, resp, seg)
            self._sessions[id(st)] = SessionDraft(self, st, server_is_resp=True)
            return st
        if syn_only and self.encrypted:
            draft = self.encrypted.get((src.ip, dst.ip)) or self.encrypted.get((dst.ip, src.ip))
            if draft is not None:
                ch = draft.guess_encrypted_channel(seg)
                st = self._store(src, dst, seg)
                ch.conn = st
                self._data[id(st)] = (draft, ch)
                return st
        if seg.payload[:4] in _GREETINGS and not syn_only:
            # An FTP greeting on a non-standard port (RFC 959 §5.4: 220 opens the dialogue).
            st = self._store(dst, src, seg)
            self._sessions[id(st)] = SessionDraft(self, st, server_is_resp=True)
            return st
        return None

    def _match_data(self, seg: Segment) -> ConnState | None:
        candidates = []
        for orig, resp in ((seg.src, seg.dst), (seg.dst, seg.src)):
            if seg.is_syn and orig is not seg.src:
                continue
            for sess, ch in self._expect.get(resp.port, ()):
                how = sess.match(ch, orig, resp)
                if how is not None:
                    candidates.append((how == "endpoint", ch.ts, sess, ch, orig, resp, how))
        if not candidates:
            return None
        candidates.sort(key=lambda c: (c[0], c[1]))
        _, _, sess, ch, orig, resp, how = candidates[-1]
        st = self._store(orig, resp, seg)
        ch.conn = st
        ch.matched_by = how
        self._data[id(st)] = (sess, ch)
        self.forget(ch)
        return st

    def _store(self, orig: Endpoint, resp: Endpoint, seg: Segment) -> ConnState:
        st = ConnState(orig, resp, seg.ts, seg.frame)
        self.ports.add(resp.port)
        self._conns[(orig, resp)] = st
        self._conns[(resp, orig)] = st
        keys = wire_keys(orig, resp)
        if keys is not None:
            # Reverse first: for a connection from an endpoint to itself both keys are
            # equal, and `update` then counts every segment as orig -> resp.
            self.by_wire_key[keys[1]] = (st, False)
            self.by_wire_key[keys[0]] = (st, True)
        return st

    def feed_unrelated(
        self, sport: int, dport: int, flags: int, head: bytes, ts: float
    ) -> bool:
        """`feed` of a TCP segment with no stored connection (not in `by_wire_key`) that
        surely starts none: no expected or control port at either end, no FTP greeting
        (`head`: the payload's first bytes), not a SYN while TLS sessions may open data
        connections. Does what `feed` would (count it, advance the clock) and returns True;
        False, with nothing done, when `feed` must take it — see `_new_connection`."""
        syn_only = flags & 0x12 == SYN
        expect, control = self._expect, self.control_ports
        if dport in expect or dport in control or self._count + 1 >= SWEEP_EVERY:
            return False
        if syn_only:
            if self.encrypted:
                return False
        elif sport in expect or sport in control or head in _GREETINGS:
            return False
        self.packets += 1
        self._now = ts
        self._count += 1
        return True

    def _unstore(self, st: ConnState) -> None:
        orig, resp = st.orig, st.resp
        conns = self._conns
        conns.pop((orig, resp), None)
        conns.pop((resp, orig), None)
        keys = wire_keys(orig, resp)
        if keys is not None:
            by_wire_key = self.by_wire_key
            by_wire_key.pop(keys[0], None)
            by_wire_key.pop(keys[1], None)

    def feed_plain(
        self,
        st: ConnState,
        from_orig: bool,
        ts: float,
        frame: int,
        seq: int,
        ack: int,
        payload: bytes,
        ttl: int,
    ) -> bool:
        """`feed` of a plain ACK segment (no SYN/FIN/RST) of a connection already known by
        its `by_wire_key`, decoded by the caller (`fastpath`). False, with nothing done,
        when `feed` must take it instead (a sweep is due first)."""
        if self._count + 1 >= SWEEP_EVERY:
            return False
        self.packets += 1
        self._now = ts
        self._count += 1
        st.plain(from_orig, ts, frame, seq, ack, payload, ttl)
        return True

    def feed_flagged(
        self,
        st: ConnState,
        from_orig: bool,
        ts: float,
        frame: int,
        flags: int,
        seq: int,
        ack: int,
        payload: bytes,
        ttl: int,
        ip_id: int,
    ) -> bool:
        """`feed_plain` for the other segments of a known connection: SYN (a retransmission,
        or the port pair used again), SYN-ACK, FIN, RST. `feed` would find the same
        connection by its endpoints and update it the same way (`ConnState.flagged`)."""
        if self._count + 1 >= SWEEP_EVERY:
            return False
        self.packets += 1
        self._now = ts
        self._count += 1
        st.flagged(from_orig, ts, frame, flags, seq, ack, payload, ttl, ip_id)
        return True

    def _icmp(self, err: IcmpError) -> None:
        st = self._conns.get((err.quoted_src, err.quoted_dst))
        if st is None:
            return
        if st.icmp is None and st.synack_frame is None and not st.saw_payload:
            st.icmp = err

    # -- bounded state -------------------------------------------------------------------
    def _sweep(self) -> None:
        """Finish sessions that are over and forget idle state, so memory stays bounded.

        A session is over when its control connection has closed (FIN/RST) and its data
        connections too, a grace period ago (late retransmissions), or when all of it has
        been idle for IDLE_SECONDS. A data connection that was never answered (no SYN-ACK,
        no payload: SYNs dropped on the way) does not hold a closed session open: the
        client gave up on it when it read the 425 and closed its socket, and waiting the
        idle time for it would keep every failed session of a busy capture in memory for
        ten minutes. It is forgotten with its session; a late SYN retransmission of it is
        then ignored.
        """
        now = self._now
        idle = now - IDLE_SECONDS
        grace = now - CLOSED_GRACE
        sessions = self._sessions
        for ident, draft in list(sessions.items()):
            if _expired(draft.conn, idle, grace) and self._channels_over(draft, idle, grace):
                del sessions[ident]
                self._close_session(draft)
                for ch in draft.channels:
                    if ch.conn is not None and _unanswered(ch.conn):
                        self._unstore(ch.conn)
                        self._data.pop(id(ch.conn), None)
        conns = self._conns
        dead = [k for k, st in conns.items() if _expired(st, idle, grace)]
        if dead:
            keep_alive = {id(d.conn) for d in sessions.values()}
            for key in dead:
                gone = conns.get(key)  # None: unstored under its other key just now
                if gone is not None and id(gone) not in keep_alive:
                    self._unstore(gone)
                    self._data.pop(id(gone), None)
        old = now - EXPECT_SECONDS
        expect = self._expect
        for port in list(expect):
            keep = [(s, c) for s, c in expect[port] if c.ts >= old]
            if keep:
                expect[port] = keep
            else:
                del expect[port]
        live = set(self.control_ports) | set(expect)
        live.update({st.resp.port for st in conns.values()})
        self.ports.intersection_update(live)
        self.ports.update(live)

    @staticmethod
    def _channels_over(draft: SessionDraft, idle: float, grace: float) -> bool:
        """No data connection of an expired session holds it open (see `_sweep`):
        each is expired, or never answered while the control connection is closed."""
        closed = draft.conn.closed
        return all(
            ch.conn is None
            or _expired(ch.conn, idle, grace)
            or (closed and _unanswered(ch.conn))
            for ch in draft.channels
        )

    def _close_session(self, draft: SessionDraft) -> None:
        for half in (draft.conn.to_orig, draft.conn.to_resp):
            half.flush(self._now, 0)
            # Break the draft <-> stream cycle: the session's memory is freed as soon as
            # it is handed over, not at a later full garbage collection.
            half.deliver = half.on_gap = None
        for ch in draft.channels:
            self.forget(ch)
        if draft.tls:
            # The draft registered itself under this key only (`SessionDraft._handle`, on
            # TlsStarted), and only then set `tls`; a later session between the same hosts
            # may have taken the key over since.
            key = (draft.client.ip, draft.server.ip)
            if self.encrypted.get(key) is draft:
                del self.encrypted[key]
        if not draft.conn.saw_payload:
            st = draft.conn
            if st.syn_count or st.rst is not None or st.icmp is not None:
                if len(self._attempts) < MAX_ATTEMPTS:
                    self._attempts.append(self.connection(st, None))
                else:
                    self.attempts_dropped += 1
            return
        session = draft.finish()
        if self.on_session is not None:
            self.on_session(session)
        else:
            self._done.append(session)

    # -- freezing ------------------------------------------------------------------------
    def connection(self, st: ConnState, baseline_ttl: int | None) -> Connection:
        """`st` frozen; `baseline_ttl` (the TTL of the peer's control packets) tells who
        sent a reset. Runs for every connection of every session: `make_*` constructors."""
        ref = self.ref
        rst = None
        if st.rst is not None:
            frame, sender, ttl, ip_id = st.rst
            from_peer = None
            if baseline_ttl is not None:
                from_peer = hop_distance(ttl) == hop_distance(baseline_ttl)
            rst = make_rst(ref(frame), sender, ttl, ip_id, from_peer)
        icmp = None
        e = st.icmp
        if e is not None:
            icmp = make_icmp_report(ref(e.frame), e.sender, e.kind, e.ttl)
        syn_frame = st.syn_frame
        synack_frame = st.synack_frame
        return make_connection(
            orig=st.orig,
            resp=st.resp,
            first_ts=st.first_ts,
            last_ts=st.last_ts,
            syn=ref(syn_frame) if syn_frame is not None else None,
            syn_count=st.syn_count,
            syn_ttl=st.syn_ttl,
            synack=ref(synack_frame) if synack_frame is not None else None,
            synack_ttl=st.synack_ttl,
            established=st.established,
            rst=rst,
            icmp=icmp,
            bytes_orig=st.to_resp.byte_count,
            bytes_resp=st.to_orig.byte_count,
            saw_payload=st.saw_payload,
        )

    # -- live use (`trace_live`) ---------------------------------------------------------
    def drain_resolved(self, now: float, *, wait: float = 10.0, linger: float = 2.0) -> Resolved:
        """Live use: channels, sessions and attempts whose fate became known (see
        `trace_live.drain_resolved`)."""
        return drain_resolved(self, now, wait, linger)

    def advance_clock(self, now: float) -> None:
        """Live use: time passes without packets, and idle state must still expire."""
        self._now = max(self._now, now)

    def drafts(self) -> list[SessionDraft]:
        """The sessions still open, in the order they began (a copy: `end_session` may
        be called while walking it)."""
        return list(self._sessions.values())

    def drop_connection(self, st: ConnState) -> None:
        """Forget a reported connection: later packets of it change nothing shown."""
        self._data.pop(id(st), None)
        self._unstore(st)

    def end_session(self, draft: SessionDraft) -> None:
        """Finish a session now (its result goes where `_close_session` sends it)."""
        st = draft.conn
        del self._sessions[id(st)]
        self.drop_connection(st)
        self.encrypted.pop((draft.client.ip, draft.server.ip), None)
        self._close_session(draft)

    def take_finished(self) -> tuple[list[Session], list[Connection]]:
        """Sessions and control attempts finished since the last call; the builder forgets them."""
        sessions, attempts = list(self._done), list(self._attempts)
        self._done.clear()
        self._attempts.clear()
        return sessions, attempts

    def finish(self, warnings: tuple[str, ...] = ()) -> Trace:
        remaining = sorted(self._sessions.values(), key=lambda d: d.conn.first_ts)
        self._sessions.clear()
        for draft in remaining:
            self._close_session(draft)
        sessions = self._done
        if self.attempts_dropped:
            warnings += (
                f"{self.attempts_dropped} further control connection attempts "
                f"not listed (limit {MAX_ATTEMPTS})",
            )
        info = CaptureInfo(
            path=self.capture.path,
            vantage=self.capture.vantage,
            packets=self.packets,
            warnings=self.capture.warnings + warnings,
        )
        return Trace(
            captures=(info,), sessions=tuple(sessions), control_attempts=tuple(self._attempts)
        )


def merge_traces(traces: list[Trace]) -> Trace:
    """Several captures analysed side by side: one Trace with all their sessions."""
    return Trace(
        captures=tuple(c for t in traces for c in t.captures),
        sessions=tuple(s for t in traces for s in t.sessions),
        control_attempts=tuple(a for t in traces for a in t.control_attempts),
        warnings=tuple(w for t in traces for w in t.warnings),
    )


# The protocol constants and `Resolved` lived here before the draft and the live drain got
# modules of their own; importing them from `ftptrace.trace` keeps working.
__all__ = [
    "ACTIVE_VERBS",
    "COMPLETED_CODES",
    "EXPECT_SECONDS",
    "FAILED_CODES",
    "IDLE_SECONDS",
    "TRANSFER_VERBS",
    "HalfStream",
    "Resolved",
    "TraceBuilder",
    "hop_distance",
    "merge_traces",
]
