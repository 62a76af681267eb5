"""One conversation, captured at several vantage points (for correlation tests).

The conversation is written once with `wire.Wire`/`wire.Ftp`, as the client sees it; then
`project` derives what each point on the path would have captured: addresses translated by
the NATs passed so far, TTLs lowered by the routers passed, each capture's own clock and
frame numbers, packets present only where the test says they got, and (optionally) an FTP
helper's rewrite of one line with the sequence shift it causes. IP IDs are per packet, the
same at every point, as Linux NAT leaves them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ftptrace.correlate import Correlated, Fingerprints, correlate
from ftptrace.model import CaptureInfo, Trace
from ftptrace.net.model import Endpoint, IcmpError, Packet, Segment
from ftptrace.trace import TraceBuilder

from wire import Wire

MOD = 1 << 32
LATENCY = 0.0003
CLIENT = "10.0.0.2"
CLIENT_PUBLIC = "203.0.113.2"
SERVER = "198.51.100.2"
SERVER_LAN = "192.168.1.2"


@dataclass
class Point:
    name: str | None
    nat: dict[str, str] = field(default_factory=dict)
    """Address as the client sees it -> address as seen here."""
    hops_client: int = 0
    hops_server: int = 0
    clock: float = 0.0
    """Seconds this capture's clock is ahead."""
    path: str = ""

    def __post_init__(self) -> None:
        if not self.path:
            self.path = f"{self.name or 'capture'}.pcap"


def home_path(**clocks: float) -> list[Point]:
    """Client 10.0.0.2 behind 203.0.113.2, server 192.168.1.2 behind 198.51.100.2."""
    c = {CLIENT: CLIENT_PUBLIC}
    both = {CLIENT: CLIENT_PUBLIC, SERVER: SERVER_LAN}
    pts = [
        Point("client", {}, 0, 3),
        Point("client-router-lan", {}, 0, 3),
        Point("client-router-wan", c, 1, 2),
        Point("server-router-wan", c, 2, 1),
        Point("server-router-lan", both, 3, 0),
        Point("server", both, 3, 0),
    ]
    for p in pts:
        p.clock = clocks.get((p.name or "").replace("-", "_"), 0.0)
    return pts


@dataclass
class Alg:
    """A helper between points `at - 1` and `at` rewriting `old` to `new` in one direction."""

    old: bytes
    new: bytes
    at: int
    to_server: bool = True


Seen = Callable[[int, Packet], Sequence[int] | None]
"""(packet index, packet as the client sees it) -> indices of the points that capture it;
None: every point."""


def project(w: Wire, points: Sequence[Point], seen: Seen | None = None,
            alg: Alg | None = None, client_ips: frozenset[str] = frozenset({CLIENT}),
            isn_rewrite_at: int | None = None, other_host: int = 0) -> list[list[Packet]]:
    """`other_host`: a different conversation (its own ISNs and IP IDs)."""
    out: list[list[Packet]] = [[] for _ in points]
    shift = 0  # bytes the helper added so far, in its direction
    for k, pkt in enumerate(w.packets):
        where = seen(k, pkt) if seen is not None else None
        idx = range(len(points)) if where is None else where
        this_shift = 0
        if (alg is not None and isinstance(pkt, Segment) and alg.old in pkt.payload
                and (pkt.src.ip in client_ips) == alg.to_server):
            this_shift = len(alg.new) - len(alg.old)
        for i in idx:
            p = points[i]
            frame = len(out[i]) + 1
            if isinstance(pkt, IcmpError):
                out[i].append(pkt._replace(
                    ts=pkt.ts + p.clock + LATENCY * (len(points) - 1 - i), frame=frame,
                    quoted_src=_tr(pkt.quoted_src, p), quoted_dst=_tr(pkt.quoted_dst, p)))
                continue
            from_client = pkt.src.ip in client_ips
            ttl = 64 - (p.hops_client if from_client else p.hops_server)
            seq, ack, payload = pkt.seq, pkt.ack, pkt.payload
            if alg is not None and i >= alg.at:
                if from_client == alg.to_server:
                    seq = (seq + shift) % MOD
                    payload = payload.replace(alg.old, alg.new)
                elif ack:
                    ack = (ack + shift) % MOD
            if isn_rewrite_at is not None and i >= isn_rewrite_at and from_client:
                seq = (seq + 0x10000) % MOD
            if other_host:
                seq, ack = (seq + other_host) % MOD, (ack + other_host) % MOD
            # Packets take LATENCY per point travelled, so captures on one link differ.
            hop = i if from_client else len(points) - 1 - i
            out[i].append(Segment(pkt.ts + p.clock + LATENCY * hop, frame, _tr(pkt.src, p),
                                  _tr(pkt.dst, p), pkt.flags, seq, ack, payload, ttl,
                                  1000 + k + other_host))
        shift += this_shift
    return out


def _tr(e: Endpoint, p: Point) -> Endpoint:
    return Endpoint(p.nat.get(e.ip, e.ip), e.port)


def analyse(points: Sequence[Point], captures: list[list[Packet]],
            control_ports: frozenset[int] = frozenset({21})) -> tuple[
                list[Trace], list[Fingerprints]]:
    traces, prints = [], []
    for p, pkts in zip(points, captures, strict=True):
        b = TraceBuilder(CaptureInfo(path=p.path, vantage=p.name), control_ports=control_ports)
        fp = Fingerprints(p.path, p.name, control_ports)
        for pkt in pkts:
            b.feed(pkt)
            fp(pkt)
        traces.append(b.finish())
        prints.append(fp)
    return traces, prints


def correlated(points: Sequence[Point], captures: list[list[Packet]]) -> Correlated:
    traces, prints = analyse(points, captures)
    return correlate(traces, prints)
