"""The socket-level trace: what a probe knows without root, as packets for the same builder.

Without a packet tap the probe still knows every control byte it sent and received and
what each connect/accept returned (established, ECONNREFUSED, timeout, ENETUNREACH). Those
facts are written as the minimal TCP segments that imply them and fed to the ordinary
`TraceBuilder`, so diagnosis runs on one model whatever the privileges.

What sockets cannot know is blurred afterwards instead of guessed: the server's TTL (so
no rule claims a hop distance), who sent a reset (`from_peer=None`) and which router sent
an ICMP error (`sender="(needs root)"`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from ftptrace.ftp.events import Direction
from ftptrace.model import CaptureInfo, Connection, DataChannel, Session, Trace
from ftptrace.net.model import ACK, FIN, RST, SYN, Endpoint, IcmpError, Packet, Segment
from ftptrace.trace import TraceBuilder

PSH = 0x08
OWN_TTL = 64
"""Our own packets, seen on our own host: zero hops travelled."""
PEER_TTL = 63
"""Placeholder for the peer's packets; blurred away after the build."""
UNKNOWN_SENDER = "(needs root)"
CHUNK = 1448
MAX_SYNTH_BYTES = 4 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class SocketEvent:
    """One socket-level fact about a data connection, in time order."""

    ts: float
    orig: Endpoint
    resp: Endpoint
    result: str
    """'established', 'refused', 'timeout', 'unreachable'."""
    bytes_to_resp: int = 0
    bytes_to_orig: int = 0
    end_ts: float | None = None


class _Writer:
    def __init__(self) -> None:
        self.packets: list[Packet] = []

    def seg(self, ts: float, src: Endpoint, dst: Endpoint, flags: int, seq: int, ack: int,
            payload: bytes = b"", ttl: int = OWN_TTL) -> None:
        self.packets.append(Segment(ts, 0, src, dst, flags, seq & 0xFFFFFFFF,
                                    ack & 0xFFFFFFFF, payload, ttl, None))


def control_packets(w: _Writer, client: Endpoint, server: Endpoint, opened: float,
                    raw: Iterable[tuple[Direction, float, bytes]], closed: float) -> None:
    """Handshake, every control byte in order, FIN: the control connection as it ran."""
    cseq, sseq = 1000, 5000
    w.seg(opened, client, server, SYN, cseq, 0)
    w.seg(opened, server, client, SYN | ACK, sseq, cseq + 1, ttl=PEER_TTL)
    cseq, sseq = cseq + 1, sseq + 1
    w.seg(opened, client, server, ACK, cseq, sseq)
    for direction, ts, data in raw:
        if direction is Direction.TO_SERVER:
            w.seg(ts, client, server, ACK | PSH, cseq, sseq, data)
            cseq += len(data)
        else:
            w.seg(ts, server, client, ACK | PSH, sseq, cseq, data, ttl=PEER_TTL)
            sseq += len(data)
    w.seg(closed, client, server, FIN | ACK, cseq, sseq)


def _stream(w: _Writer, ts: float, src: Endpoint, dst: Endpoint, seq: int, ack: int, n: int,
            ttl: int) -> int:
    n = min(n, MAX_SYNTH_BYTES)
    while n > 0:
        size = min(n, CHUNK)
        w.seg(ts, src, dst, ACK | PSH, seq, ack, b"\0" * size, ttl=ttl)
        seq += size
        n -= size
    return seq


def data_packets(w: _Writer, ev: SocketEvent, we_are_orig: bool) -> None:
    """The few segments a connect/accept result implies (RFC 9293 §3.5 handshake)."""
    o_ttl, r_ttl = (OWN_TTL, PEER_TTL) if we_are_orig else (PEER_TTL, OWN_TTL)
    o, r = ev.orig, ev.resp
    w.seg(ev.ts, o, r, SYN, 100, 0, ttl=o_ttl)
    if ev.result == "refused":
        w.seg(ev.ts, r, o, RST | ACK, 0, 101, ttl=r_ttl)
    elif ev.result == "unreachable":
        w.packets.append(IcmpError(ev.ts, 0, UNKNOWN_SENDER, 3, 0, "unreachable", o, r, 100,
                                   0))
    elif ev.result == "established":
        w.seg(ev.ts, r, o, SYN | ACK, 900, 101, ttl=r_ttl)
        w.seg(ev.ts, o, r, ACK, 101, 901, ttl=o_ttl)
        end = ev.end_ts if ev.end_ts is not None else ev.ts
        oseq = _stream(w, ev.ts, o, r, 101, 901, ev.bytes_to_resp, o_ttl)
        rseq = _stream(w, ev.ts, r, o, 901, oseq, ev.bytes_to_orig, r_ttl)
        w.seg(end, o, r, FIN | ACK, oseq, rseq, ttl=o_ttl)
        w.seg(end, r, o, FIN | ACK, rseq, oseq + 1, ttl=r_ttl)


def socket_trace(*, label: str, control_ports: frozenset[int], client: Endpoint | None,
                 server: Endpoint, opened: float, closed: float,
                 raw: Iterable[tuple[Direction, float, bytes]],
                 control_failure: str | None, data: Iterable[tuple[SocketEvent, bool]],
                 warnings: tuple[str, ...]) -> Trace:
    """Build the Trace a socket-only probe can vouch for."""
    w = _Writer()
    if control_failure is not None or client is None:
        src = client or Endpoint("0.0.0.0" if ":" not in server.ip else "::", 0)
        if control_failure is not None:
            data_packets(w, SocketEvent(ts=opened, orig=src, resp=server,
                                        result=control_failure), True)
    else:
        control_packets(w, client, server, opened, raw, closed)
    for ev, we_are_orig in data:
        data_packets(w, ev, we_are_orig)
    w.packets.sort(key=lambda p: p.ts)
    builder = TraceBuilder(CaptureInfo(path=label, vantage="client"), control_ports=control_ports)
    for p in w.packets:
        builder.feed(p)
    return blur(builder.finish(), warnings)


def _blur_conn(c: Connection | None) -> Connection | None:
    if c is None:
        return None
    rst = replace(c.rst, from_peer=None, ttl=0) if c.rst is not None else None
    icmp = replace(c.icmp, ttl=0) if c.icmp is not None else None
    return replace(c, rst=rst, icmp=icmp, synack_ttl=None, syn_ttl=None)


def _blur_channel(ch: DataChannel) -> DataChannel:
    return replace(ch, connection=_blur_conn(ch.connection))


def _blur_session(s: Session) -> Session:
    control = _blur_conn(s.control)
    assert control is not None
    return replace(s, server_ttl=None, control=control,
                   data_channels=tuple(_blur_channel(ch) for ch in s.data_channels))


def blur(trace: Trace, warnings: tuple[str, ...]) -> Trace:
    """Remove what sockets cannot know (TTLs, who sent a reset) from a synthetic trace."""
    attempts = tuple(c for c in (_blur_conn(a) for a in trace.control_attempts)
                     if c is not None)
    return replace(trace, sessions=tuple(_blur_session(s) for s in trace.sessions),
                   control_attempts=attempts, warnings=trace.warnings + warnings)
