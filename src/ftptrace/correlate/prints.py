"""Per-capture fingerprints: what is needed to recognise one packet in another capture.

NAT rewrites addresses and ports but, on Linux and most home routers, leaves the TCP
initial sequence number, the IPv4 identification field (RFC 791 §3.1; RFC 6864 §4.1) and
the payload alone. So a SYN is recognised across captures by its ISN, a control segment by
(IP ID, payload) or (sequence number, payload), an RST or ICMP error by the connection it
belongs to. The collector keeps only that, for connections that began with a SYN (every
FTP connection attempt) and for control connections: a few dozen bytes per connection and
per control segment, bounded in count, so a multi-gigabyte capture does not fill memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ftptrace.model import FrameRef
from ftptrace.net.model import ACK, RST, SYN, Endpoint, IcmpError, Packet, Segment

PAYLOAD_PREFIX = 96
"""Bytes of each control segment kept: a whole PORT/EPRT command or 227 reply line."""
MAX_FLOWS = 200_000
MAX_CONTROL_SEGMENTS = 4_000
"""Per control connection; a long session keeps its first segments (where logins and
data-channel announcements are) and drops the rest."""
GREETING = (b"220 ", b"220-")


@dataclass(frozen=True, slots=True)
class Sample:
    """One packet of a connection as one capture saw it."""

    ts: float
    frame: int
    from_orig: bool
    seq: int
    ip_id: int | None
    ttl: int
    payload: bytes = b""
    length: int = 0


@dataclass(slots=True)
class Flow:
    """One TCP connection (or attempt) in one capture: orig is who sent the first SYN."""

    orig: Endpoint
    resp: Endpoint
    control: bool = False
    syns: list[Sample] = field(default_factory=list)
    synack: Sample | None = None
    rst: Sample | None = None
    """The reset that refused the attempt (before any SYN-ACK or payload)."""
    icmp: tuple[float, int, str, str, int] | None = None
    """(ts, frame, sender, kind, ttl) of the first ICMP error quoting this connection."""
    segments: list[Sample] = field(default_factory=list)
    """Payload segments (control connections only), both directions, in capture order."""
    answered_greeting: bool = False

    @property
    def isn(self) -> int | None:
        return self.syns[0].seq if self.syns else None

    @property
    def first(self) -> Sample | None:
        if self.syns:
            return self.syns[0]
        return self.segments[0] if self.segments else None

    @property
    def first_ts(self) -> float:
        s = self.first
        return s.ts if s is not None else 0.0


class Fingerprints:
    """Feed every packet of one capture (after or beside `TraceBuilder.feed`)."""

    def __init__(
        self, path: str, vantage: str | None, control_ports: frozenset[int] = frozenset({21})
    ) -> None:
        self.path = path
        self.vantage = vantage
        self.control_ports = control_ports
        self.flows: dict[tuple[Endpoint, Endpoint], Flow] = {}
        self.dropped_flows = 0

    # Called once per packet: keep the common case (a data segment of a known or unknown
    # non-control flow) to one dict lookup and a flag test.
    def __call__(self, pkt: Packet) -> None:
        if type(pkt) is IcmpError:
            self._icmp(pkt)
            return
        assert isinstance(pkt, Segment)
        flags = pkt.flags
        key = (pkt.src, pkt.dst)
        flow = self.flows.get(key)
        if flags & SYN:
            if not flags & ACK:
                if flow is None or (flow.orig != pkt.src) or (
                    flow.syns and flow.syns[0].seq != pkt.seq
                ):
                    flow = self._new(pkt.src, pkt.dst, pkt.dst.port in self.control_ports)
                    if flow is None:
                        return
                flow.syns.append(_sample(pkt, True, False))
            elif flow is not None and flow.synack is None:
                flow.synack = _sample(pkt, False, False)
            return
        if flow is None:
            if not pkt.payload:
                return
            if pkt.dst.port in self.control_ports:
                flow = self._new(pkt.src, pkt.dst, True)
            elif pkt.src.port in self.control_ports or pkt.payload[:4] in GREETING:
                flow = self._new(pkt.dst, pkt.src, True)
            if flow is None:
                return
        from_orig = pkt.src == flow.orig
        if flags & RST:
            # Only a reset that refused the attempt counts; one that ends a connection that
            # carried data is an ordinary (if abrupt) close.
            if flow.rst is None and flow.synack is None and not flow.segments:
                flow.rst = _sample(pkt, from_orig, False)
            return
        if not pkt.payload:
            return
        if not flow.control:
            if flow.answered_greeting or from_orig:
                return
            flow.answered_greeting = True
            if pkt.payload[:4] not in GREETING:
                return
            flow.control = True  # an FTP greeting on a non-standard port (RFC 959 §5.4)
        if len(flow.segments) < MAX_CONTROL_SEGMENTS:
            flow.segments.append(_sample(pkt, from_orig, True))

    def _new(self, orig: Endpoint, resp: Endpoint, control: bool) -> Flow | None:
        if len(self.flows) >= 2 * MAX_FLOWS:
            self.dropped_flows += 1
            return None
        flow = Flow(orig=orig, resp=resp, control=control)
        self.flows[(orig, resp)] = flow
        self.flows[(resp, orig)] = flow
        return flow

    def _icmp(self, err: IcmpError) -> None:
        flow = self.flows.get((err.quoted_src, err.quoted_dst))
        if flow is not None and flow.icmp is None:
            flow.icmp = (err.ts, err.frame, err.sender, err.kind, err.ttl)

    # -- queries ---------------------------------------------------------------------------
    def flow(self, orig: Endpoint, resp: Endpoint) -> Flow | None:
        return self.flows.get((orig, resp))

    def all_flows(self) -> list[Flow]:
        seen: set[int] = set()
        out = []
        for f in self.flows.values():
            if id(f) not in seen:
                seen.add(id(f))
                out.append(f)
        return out

    def ref(self, frame: int) -> FrameRef:
        return FrameRef(capture=self.path, frame=frame)


def _sample(pkt: Segment, from_orig: bool, keep_payload: bool) -> Sample:
    payload = pkt.payload
    return Sample(
        ts=pkt.ts,
        frame=pkt.frame,
        from_orig=from_orig,
        seq=pkt.seq,
        ip_id=pkt.ip_id,
        ttl=pkt.ttl,
        payload=payload[:PAYLOAD_PREFIX] if keep_payload else b"",
        length=len(payload),
    )
