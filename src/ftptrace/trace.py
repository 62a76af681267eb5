"""Build the immutable `Trace` from a stream of packets (live or replayed).

The builder is the expected-channel table of Zeek's FTP analyzer grown up: every
PORT/PASV/EPRT/EPSV/LPRT/LPSV announcement registers an expected connection (orig, resp_ip,
resp_port — RFC 959 §3.2 for who connects, RFC 2428 §2–3 for the extended forms); each
new TCP connection is matched against it by endpoint, or by port alone when the client
ignored the address in the 227 reply (curl, ftplib and FileZilla do). State is bounded:
idle connections expire, and nothing but control connections and expected data
connections is ever stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ftptrace.ftp.events import (
    Anomaly,
    CommandSent,
    DataChannelAnnounced,
    Direction,
    Event,
    ReplyReceived,
    TlsStarted,
)
from ftptrace.ftp.session import FtpSession
from ftptrace.model import (
    CaptureInfo,
    Command,
    Connection,
    DataChannel,
    Expected,
    FrameRef,
    IcmpReport,
    Outcome,
    Reply,
    Rst,
    Session,
    Trace,
)
from ftptrace.net.model import Endpoint, IcmpError, Packet, Segment
from ftptrace.net.reassembly import ConnState, HalfStream

FTP_CONTROL_PORTS = frozenset({21})
TRANSFER_VERBS = frozenset({"LIST", "NLST", "MLSD", "RETR", "STOR", "STOU", "APPE"})
ACTIVE_VERBS = frozenset({"PORT", "EPRT", "LPRT"})
COMPLETED_CODES = frozenset({226, 250})
FAILED_CODES = frozenset({425, 426})
IDLE_SECONDS = 600.0
CLOSED_GRACE = 2.0
"""Seconds a closed connection is kept for late retransmissions before it is finished."""
MAX_ATTEMPTS = 10_000
EXPECT_SECONDS = 300.0
SWEEP_EVERY = 65536


def hop_distance(ttl: int) -> int:
    """Hops travelled, assuming the sender started from the next common initial TTL."""
    for initial in (32, 64, 128, 255):
        if ttl <= initial:
            return initial - ttl
    return 0


@dataclass(slots=True)
class _Cmd:
    ts: float
    frame: int
    verb: str
    arg: str | None
    replies: list[Reply] = field(default_factory=list)


@dataclass(slots=True)
class _Channel:
    via: str
    passive: bool
    host: str | None
    port: int
    ts: float
    frame: int
    expected: Expected
    announce_cmd: _Cmd
    announce_reply: Reply | None = None
    command: _Cmd | None = None
    conn: ConnState | None = None
    matched_by: str | None = None
    rejected: bool = False
    reported: bool = False
    """Live use: already returned by `TraceBuilder.drain_resolved`."""


class _SessionDraft:
    """A control connection being rebuilt: the FTP dialogue plus its data channels."""

    def __init__(self, builder: TraceBuilder, conn: ConnState, server_is_resp: bool) -> None:
        self.builder = builder
        self.conn = conn
        self.server_is_resp = server_is_resp
        self.client = conn.orig if server_is_resp else conn.resp
        self.server = conn.resp if server_is_resp else conn.orig
        self.ftp = FtpSession()
        self.commands: list[_Cmd] = []
        self.by_seq: dict[int, _Cmd] = {}
        self.channels: list[_Channel] = []
        self.current: _Channel | None = None
        self.anomalies: list[tuple[FrameRef, str, str]] = []
        self.tls = False
        to_server = conn.to_resp if server_is_resp else conn.to_orig
        to_client = conn.to_orig if server_is_resp else conn.to_resp
        to_server.deliver = self._from_client
        to_client.deliver = self._from_server
        to_server.on_gap = self._gap
        to_client.on_gap = self._gap

    def _gap(self, lost: int, ts: float, frame: int) -> None:
        self.anomalies.append(
            (self.builder.ref(frame), "capture-gap", f"{lost} bytes of the control stream missing")
        )

    def _from_client(self, data: bytes, ts: float, frame: int) -> None:
        self._handle(self.ftp.receive(Direction.TO_SERVER, data, ts, frame))

    def _from_server(self, data: bytes, ts: float, frame: int) -> None:
        self._handle(self.ftp.receive(Direction.TO_CLIENT, data, ts, frame))

    def _handle(self, events: list[Event]) -> None:
        for ev in events:
            if isinstance(ev, CommandSent):
                self._command(ev)
            elif isinstance(ev, ReplyReceived):
                self._reply(ev)
            elif isinstance(ev, DataChannelAnnounced):
                self._announce(ev)
            elif isinstance(ev, TlsStarted):
                self.tls = True
                self.builder.encrypted[(self.client.ip, self.server.ip)] = self
            elif isinstance(ev, Anomaly):
                self.anomalies.append((self.builder.ref(ev.frame), ev.kind, ev.detail))

    def _command(self, ev: CommandSent) -> None:
        cmd = _Cmd(ev.ts, ev.frame, ev.verb, ev.arg)
        self.commands.append(cmd)
        self.by_seq[ev.seq] = cmd
        if ev.verb in TRANSFER_VERBS and self.current is not None:
            self.current.command = cmd
            self.current = None

    def _reply(self, ev: ReplyReceived) -> None:
        if ev.command is None:
            return
        cmd = self.by_seq.get(ev.command.seq)
        if cmd is None:
            return
        reply = Reply(code=ev.code, text=ev.text, ts=ev.ts, ref=self.builder.ref(ev.frame))
        cmd.replies.append(reply)
        if cmd.verb in ACTIVE_VERBS:
            for ch in reversed(self.channels):
                if ch.announce_cmd is cmd:
                    ch.announce_reply = reply
                    if ev.code >= 400:
                        # RFC 959 §4.2: 5yz/4yz — the server will not connect to it.
                        ch.rejected = True
                        self.builder.forget(ch)
                        if self.current is ch:
                            self.current = None
                    break
        if not ev.preliminary and ev.code >= 200:
            self.by_seq.pop(ev.command.seq, None)

    def _announce(self, ev: DataChannelAnnounced) -> None:
        cmd = self.by_seq.get(ev.command.seq)
        if cmd is None:
            cmd = _Cmd(ev.command.ts, ev.command.frame, ev.command.verb, ev.command.arg)
        if ev.passive:
            # RFC 959 §4.1.2 PASV / RFC 2428 §3 EPSV: the client connects to the server's
            # announced port; EPSV carries no address, so it is the control peer's.
            resp_ip = ev.host if ev.host is not None else self.server.ip
            expected = Expected(orig_ip=self.client.ip, resp_ip=resp_ip, resp_port=ev.port)
        else:
            # RFC 959 §3.2: in active mode the server opens the connection to the PORT address.
            host = ev.host if ev.host is not None else self.client.ip
            expected = Expected(orig_ip=self.server.ip, resp_ip=host, resp_port=ev.port)
        reply = None
        if ev.reply is not None:
            reply = Reply(
                code=ev.reply.code,
                text=ev.reply.text,
                ts=ev.reply.ts,
                ref=self.builder.ref(ev.reply.frame),
            )
        ch = _Channel(
            via=ev.via,
            passive=ev.passive,
            host=ev.host,
            port=ev.port,
            ts=ev.ts,
            frame=ev.frame,
            expected=expected,
            announce_cmd=cmd,
            announce_reply=reply,
        )
        self.channels.append(ch)
        self.current = ch
        self.builder.expect(self, ch)

    def guess_encrypted_channel(self, seg: Segment) -> _Channel:
        """A connection between this session's hosts after AUTH TLS (RFC 4217 §4).

        The PASV/PORT negotiation is encrypted, so the channel is recognised by its hosts
        alone: client → server is passive, server → client active. `matched_by` says so.
        """
        passive = seg.src.ip == self.client.ip
        expected = Expected(orig_ip=seg.src.ip, resp_ip=seg.dst.ip, resp_port=seg.dst.port)
        cmd = _Cmd(seg.ts, seg.frame, "AUTH", None)
        ch = _Channel(
            via="PASV" if passive else "PORT",
            passive=passive,
            host=None,
            port=seg.dst.port,
            ts=seg.ts,
            frame=seg.frame,
            expected=expected,
            announce_cmd=cmd,
            matched_by="hosts",
        )
        self.channels.append(ch)
        return ch

    def match(self, ch: _Channel, src: Endpoint, dst: Endpoint) -> str | None:
        """How a new connection src → dst fits channel `ch`: 'endpoint', 'port' or None."""
        exp = ch.expected
        if dst.port != exp.resp_port or ch.conn is not None or ch.rejected:
            return None
        if dst.ip == exp.resp_ip and src.ip == exp.orig_ip:
            return "endpoint"
        if ch.passive and src.ip == self.client.ip:
            return "port"
        if not ch.passive and src.ip == self.server.ip:
            return "port"
        if dst.ip == exp.resp_ip:
            return "endpoint"
        return None

    def finish(self) -> Session:
        b = self.builder
        conn = self.conn
        server_ttl = conn.ttl_resp if self.server_is_resp else conn.ttl_orig
        client_ttl = conn.ttl_orig if self.server_is_resp else conn.ttl_resp
        channels = tuple(self._finish_channel(ch, server_ttl, client_ttl) for ch in self.channels)
        return Session(
            capture=b.capture.path,
            client=self.client,
            server=self.server,
            control=b.connection(conn, None),
            user=self.ftp.user,
            tls=self.tls or self.ftp.tls,
            banner=self.ftp.banner,
            login_ok=self.ftp.login_ok,
            commands=tuple(_freeze_cmd(c, b) for c in self.commands),
            data_channels=channels,
            anomalies=tuple(self.anomalies),
            server_ttl=server_ttl,
            client_ttl=client_ttl,
        )

    def _finish_channel(
        self, ch: _Channel, server_ttl: int | None, client_ttl: int | None
    ) -> DataChannel:
        b = self.builder
        baseline = server_ttl if ch.passive else client_ttl
        conn = b.connection(ch.conn, baseline) if ch.conn is not None else None
        command = _freeze_cmd(ch.command, b) if ch.command is not None else None
        inferred = False
        if ch.rejected:
            outcome = Outcome.NOT_ATTEMPTED
        elif conn is not None and conn.outcome is not Outcome.UNKNOWN:
            outcome = conn.outcome
        else:
            codes = [r.code for r in command.replies] if command is not None else []
            if any(c in COMPLETED_CODES for c in codes):
                # RFC 959 §4.2: 226/250 after 150/125 — the transfer happened, even if its
                # packets are not in this capture (filtered to port 21, say).
                outcome, inferred = Outcome.ESTABLISHED, True
            elif any(c in FAILED_CODES for c in codes):
                outcome = Outcome.FAILED
            elif any(c >= 450 for c in codes):
                # RFC 959 §4.2: 45x/5yz to the transfer command — the server refused the
                # transfer (missing file, permissions, a server fault), no connection tried.
                outcome = Outcome.NOT_ATTEMPTED
            else:
                outcome = Outcome.UNKNOWN
        return DataChannel(
            via=ch.via,
            passive=ch.passive,
            announced_ip=ch.host,
            announced_port=ch.port,
            announced_ref=b.ref(ch.frame),
            announce_reply=ch.announce_reply,
            expected=ch.expected,
            command=command,
            outcome=outcome,
            inferred=inferred,
            connection=conn,
            matched_by=ch.matched_by,
        )


def _freeze_cmd(c: _Cmd, b: TraceBuilder) -> Command:
    return Command(ts=c.ts, ref=b.ref(c.frame), verb=c.verb, arg=c.arg, replies=tuple(c.replies))


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
        self._sessions: dict[int, _SessionDraft] = {}
        self._data: dict[int, tuple[_SessionDraft, _Channel]] = {}
        self._expect: dict[int, list[tuple[_SessionDraft, _Channel]]] = {}
        self._done: list[Session] = []
        self._attempts: list[Connection] = []
        self.encrypted: dict[tuple[str, str], _SessionDraft] = {}
        """(client ip, server ip) of sessions whose control channel went TLS."""
        self._refs: dict[int, FrameRef] = {}
        self._count = 0
        self._now = 0.0
        self.packets = 0
        self.ports: set[int] = set(control_ports)
        """Ports whose every segment matters (control ports, announced data ports, tracked
        connections). A reader may pass this live set to `net.decode.decode(ports=...)` to
        drop bulk segments of other connections before any object is built; SYN/FIN/RST
        segments are kept regardless, so connection attempts are never lost."""

    # -- references and expectations -----------------------------------------------------
    def ref(self, frame: int) -> FrameRef:
        r = self._refs.get(frame)
        if r is None:
            r = FrameRef(capture=self.capture.path, frame=frame)
            if len(self._refs) < 100_000:
                self._refs[frame] = r
        return r

    def expect(self, session: _SessionDraft, ch: _Channel) -> None:
        self._expect.setdefault(ch.expected.resp_port, []).append((session, ch))
        self.ports.add(ch.expected.resp_port)

    def forget(self, ch: _Channel) -> None:
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
            self._sessions[id(st)] = _SessionDraft(self, st, server_is_resp=True)
            return st
        if syn_only and self.encrypted:
            draft = self.encrypted.get((src.ip, dst.ip)) or self.encrypted.get((dst.ip, src.ip))
            if draft is not None:
                ch = draft.guess_encrypted_channel(seg)
                st = self._store(src, dst, seg)
                ch.conn = st
                self._data[id(st)] = (draft, ch)
                return st
        if seg.payload[:4] in (b"220 ", b"220-") and not syn_only:
            # An FTP greeting on a non-standard port (RFC 959 §5.4: 220 opens the dialogue).
            st = self._store(dst, src, seg)
            self._sessions[id(st)] = _SessionDraft(self, st, server_is_resp=True)
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
        return st

    def _icmp(self, err: IcmpError) -> None:
        st = self._conns.get((err.quoted_src, err.quoted_dst))
        if st is None:
            return
        if st.icmp is None and st.synack_frame is None and not st.saw_payload:
            st.icmp = err

    # -- bounded state -------------------------------------------------------------------
    def _expired(self, st: ConnState) -> bool:
        now = self._now
        return st.last_ts < now - IDLE_SECONDS or (st.closed and st.last_ts < now - CLOSED_GRACE)

    def _sweep(self) -> None:
        """Finish sessions that are over and forget idle state, so memory stays bounded.

        A session is over when its control connection has closed (FIN/RST) and its data
        connections too, a grace period ago (late retransmissions), or when all of it has
        been idle for IDLE_SECONDS.
        """
        expired = self._expired
        self._refs.clear()  # a cache only: frames already referenced keep their objects
        for ident, draft in list(self._sessions.items()):
            if expired(draft.conn) and all(
                ch.conn is None or expired(ch.conn) for ch in draft.channels
            ):
                del self._sessions[ident]
                self._close_session(draft)
        keep_alive = {id(d.conn) for d in self._sessions.values()}
        for key in [k for k, st in self._conns.items() if expired(st)]:
            st = self._conns[key]
            if id(st) not in keep_alive:
                del self._conns[key]
                self._data.pop(id(st), None)
        old = self._now - EXPECT_SECONDS
        for port in list(self._expect):
            keep = [(s, c) for s, c in self._expect[port] if c.ts >= old]
            if keep:
                self._expect[port] = keep
            else:
                del self._expect[port]
        live = set(self.control_ports) | set(self._expect)
        live.update(st.resp.port for st in self._conns.values())
        self.ports.intersection_update(live)
        self.ports.update(live)

    def _close_session(self, draft: _SessionDraft) -> None:
        for half in (draft.conn.to_orig, draft.conn.to_resp):
            half.flush(self._now, 0)
        for ch in draft.channels:
            self.forget(ch)
        for key in [k for k, d in self.encrypted.items() if d is draft]:
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
        rst = None
        if st.rst is not None:
            frame, sender, ttl, ip_id = st.rst
            from_peer = None
            if baseline_ttl is not None:
                from_peer = hop_distance(ttl) == hop_distance(baseline_ttl)
            rst = Rst(ref=self.ref(frame), sender=sender, ttl=ttl, ip_id=ip_id, from_peer=from_peer)
        icmp = None
        if st.icmp is not None:
            e = st.icmp
            icmp = IcmpReport(ref=self.ref(e.frame), sender=e.sender, kind=e.kind, ttl=e.ttl)
        return Connection(
            orig=st.orig,
            resp=st.resp,
            first_ts=st.first_ts,
            last_ts=st.last_ts,
            syn=self.ref(st.syn_frame) if st.syn_frame is not None else None,
            syn_count=st.syn_count,
            syn_ttl=st.syn_ttl,
            synack=self.ref(st.synack_frame) if st.synack_frame is not None else None,
            synack_ttl=st.synack_ttl,
            established=st.established,
            rst=rst,
            icmp=icmp,
            bytes_orig=st.to_resp.byte_count,
            bytes_resp=st.to_orig.byte_count,
            saw_payload=st.saw_payload,
        )

    def drain_resolved(self, now: float, *, wait: float = 10.0, linger: float = 2.0) -> Resolved:
        """Live use: channels, sessions and attempts whose fate became known (see `_drain`)."""
        return _drain(self, now, wait, linger)

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


@dataclass(frozen=True, slots=True)
class Resolved:
    """What `TraceBuilder.drain_resolved` found certain since its last call."""

    channels: list[tuple[Session, DataChannel]]
    """Each data channel once, with its session (commands left out: see `sessions`)."""
    sessions: list[Session]
    """Sessions whose control connection ended; the builder has forgotten them."""
    attempts: list[Connection]
    """Control connections refused, unreachable or unanswered for `wait` seconds."""


def _drain(b: TraceBuilder, now: float, wait: float, linger: float) -> Resolved:
    """Live use (`ftptrace watch`): resolve what is certain, then forget it (bounded memory).

    A data channel is resolved when its connection was refused or unreachable, when it was
    established and the transfer command got its final reply (RFC 959 §4.2) or the
    connection closed or idled `wait` seconds, when SYNs stayed unanswered `wait` seconds,
    when the server answered the transfer command without any connection, or when its
    session ended. A session ends `linger` seconds after its control connection closed.
    """
    b._now = max(b._now, now)
    out = Resolved([], [], [])
    for ident, d in list(b._sessions.items()):
        st = d.conn
        unanswered = st.synack_frame is None and not st.saw_payload
        ended = (st.closed and now - st.last_ts >= linger) or now - st.last_ts >= IDLE_SECONDS
        if unanswered and (st.rst is not None or st.icmp is not None or now - st.first_ts >= wait):
            ended = True
        server_ttl = st.ttl_resp if d.server_is_resp else st.ttl_orig
        client_ttl = st.ttl_orig if d.server_is_resp else st.ttl_resp
        for ch in d.channels:
            if ch.reported or not (ended or _settled(ch, now, wait)):
                continue
            ch.reported = True
            frozen = d._finish_channel(ch, server_ttl, client_ttl)
            snap = Session(
                capture=b.capture.path,
                client=d.client,
                server=d.server,
                control=b.connection(st, None),
                user=d.ftp.user,
                tls=d.tls,
                banner=None,
                login_ok=d.ftp.login_ok,
                commands=(),
                data_channels=(frozen,),
                server_ttl=server_ttl,
                client_ttl=client_ttl,
            )
            out.channels.append((snap, frozen))
            b.forget(ch)
            if ch.conn is not None:  # reported: later packets of it change nothing shown
                b._data.pop(id(ch.conn), None)
                b._conns.pop((ch.conn.orig, ch.conn.resp), None)
                b._conns.pop((ch.conn.resp, ch.conn.orig), None)
        if len(d.channels) > 64:
            d.channels = [c for c in d.channels if not c.reported]
        if ended:
            del b._sessions[ident]
            b._conns.pop((st.orig, st.resp), None)
            b._conns.pop((st.resp, st.orig), None)
            b.encrypted.pop((d.client.ip, d.server.ip), None)
            b._close_session(d)
            for half in (st.to_orig, st.to_resp):  # break the draft <-> stream cycle so
                half.deliver = half.on_gap = None  # memory is freed now, not at a gen-2 GC
    out.sessions.extend(b._done)
    # A connection first seen without its SYN is the tail of one already forgotten.
    out.attempts.extend(a for a in b._attempts if a.syn_count)
    b._done.clear()
    b._attempts.clear()
    return out


def _settled(ch: _Channel, now: float, wait: float) -> bool:
    if ch.rejected:
        return True
    final = ch.command is not None and any(r.code >= 200 for r in ch.command.replies)
    st = ch.conn
    if st is None:
        return final or now - ch.ts >= EXPECT_SECONDS
    if st.rst is not None or st.icmp is not None:
        return True
    if st.established or st.saw_payload:
        return final or st.closed or now - st.last_ts >= wait
    return final or now - st.first_ts >= wait


def merge_traces(traces: list[Trace]) -> Trace:
    """Several captures analysed side by side: one Trace with all their sessions."""
    return Trace(
        captures=tuple(c for t in traces for c in t.captures),
        sessions=tuple(s for t in traces for s in t.sessions),
        control_attempts=tuple(a for t in traces for a in t.control_attempts),
        warnings=tuple(w for t in traces for w in t.warnings),
    )


__all__ = ["HalfStream", "Resolved", "TraceBuilder", "hop_distance", "merge_traces"]
