"""A tiny test language for conversations on the wire (compare mitmproxy's Playbook).

`Wire` writes TCP segments and ICMP errors as a capture would show them — sequence numbers,
TTLs and frame numbers included — so trace-builder and rule tests state a conversation
instead of hand-building packets. TTLs default to 64 minus the hops from the capture point.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ftptrace.model import CaptureInfo, Trace
from ftptrace.net.model import ACK, FIN, RST, SYN, Endpoint, IcmpError, Packet, Segment
from ftptrace.trace import TraceBuilder

PSH = 0x08


@dataclass
class Flow:
    a: Endpoint
    b: Endpoint
    seq_a: int = 1000
    seq_b: int = 5000


@dataclass
class Wire:
    hops: dict[str, int] = field(default_factory=dict)
    """ip -> hops between that host and the capture point (TTL = 64 - hops)."""
    packets: list[Packet] = field(default_factory=list)
    ts: float = 1_700_000_000.0

    def _tick(self) -> float:
        self.ts += 0.01
        return self.ts

    def ttl(self, ip: str, hops: int | None = None) -> int:
        return 64 - (self.hops.get(ip, 0) if hops is None else hops)

    def seg(
        self,
        src: Endpoint,
        dst: Endpoint,
        flags: int,
        seq: int,
        ack: int = 0,
        payload: bytes = b"",
        ttl: int | None = None,
    ) -> Segment:
        s = Segment(
            self._tick(),
            len(self.packets) + 1,
            src,
            dst,
            flags,
            seq % (1 << 32),
            ack,
            payload,
            ttl if ttl is not None else self.ttl(src.ip),
            1,
        )
        self.packets.append(s)
        return s

    def connect(self, a: Endpoint, b: Endpoint) -> Flow:
        f = Flow(a, b)
        self.seg(a, b, SYN, f.seq_a)
        self.seg(b, a, SYN | ACK, f.seq_b, f.seq_a + 1)
        f.seq_a += 1
        f.seq_b += 1
        self.seg(a, b, ACK, f.seq_a, f.seq_b)
        return f

    def syn(self, a: Endpoint, b: Endpoint, count: int = 1) -> None:
        for _ in range(count):
            self.seg(a, b, SYN, 777)

    def rst(self, src: Endpoint, dst: Endpoint, ttl: int | None = None) -> None:
        self.seg(src, dst, RST | ACK, 0, 778, ttl=ttl)

    def icmp(
        self,
        sender: str,
        quoted_src: Endpoint,
        quoted_dst: Endpoint,
        kind: str = "net-unreachable",
        icmp_type: int = 3,
        icmp_code: int = 0,
    ) -> None:
        self.packets.append(
            IcmpError(
                self._tick(),
                len(self.packets) + 1,
                sender,
                icmp_type,
                icmp_code,
                kind,
                quoted_src,
                quoted_dst,
                777,
                self.ttl(sender),
            )
        )

    def a_says(self, f: Flow, data: bytes) -> None:
        self.seg(f.a, f.b, PSH | ACK, f.seq_a, f.seq_b, data)
        f.seq_a += len(data)

    def b_says(self, f: Flow, data: bytes) -> None:
        self.seg(f.b, f.a, PSH | ACK, f.seq_b, f.seq_a, data)
        f.seq_b += len(data)

    def close(self, f: Flow) -> None:
        self.seg(f.a, f.b, FIN | ACK, f.seq_a, f.seq_b)
        self.seg(f.b, f.a, FIN | ACK, f.seq_b, f.seq_a + 1)

    def trace(
        self, path: str = "test.pcap", control_ports: frozenset[int] = frozenset({21})
    ) -> Trace:
        b = TraceBuilder(CaptureInfo(path=path), control_ports=control_ports)
        for p in self.packets:
            b.feed(p)
        return b.finish()


def ep(text: str) -> Endpoint:
    ip, _, port = text.rpartition(":")
    return Endpoint(ip.strip("[]"), int(port))


class Ftp:
    """Drives a control flow on a Wire: commands and replies as text."""

    def __init__(self, wire: Wire, client: str, server: str, banner: str = "220 ready") -> None:
        self.w = wire
        self.f = wire.connect(ep(client), ep(server))
        wire.b_says(self.f, banner.encode() + b"\r\n")

    def cmd(self, line: str, *replies: str) -> None:
        self.w.a_says(self.f, line.encode() + b"\r\n")
        for r in replies:
            self.w.b_says(self.f, r.encode() + b"\r\n")

    def reply(self, *replies: str) -> None:
        for r in replies:
            self.w.b_says(self.f, r.encode() + b"\r\n")

    def login(self, user: str = "anonymous", password: str = "guest@example") -> None:
        self.cmd(f"USER {user}", "331 Please specify the password.")
        self.cmd(f"PASS {password}", "230 Login successful.")

    def quit(self) -> None:
        self.cmd("QUIT", "221 Goodbye.")
        self.w.close(self.f)


def _ip_packet(src: str, dst: str, proto: int, body: bytes, ttl: int, ip_id: int) -> bytes:
    import socket
    import struct

    if ":" in src:
        return (
            struct.pack("!IHBB", 6 << 28, len(body), proto, ttl)
            + socket.inet_pton(socket.AF_INET6, src)
            + socket.inet_pton(socket.AF_INET6, dst)
            + body
        )
    return (
        struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(body),
            ip_id,
            0,
            ttl,
            proto,
            0,
            socket.inet_aton(src),
            socket.inet_aton(dst),
        )
        + body
    )


def _tcp(seg: Segment) -> bytes:
    import struct

    return (
        struct.pack(
            "!HHIIBBHHH",
            seg.src.port,
            seg.dst.port,
            seg.seq,
            seg.ack,
            5 << 4,
            seg.flags,
            65535,
            0,
            0,
        )
        + seg.payload
    )


def raw_ip(pkt: Packet) -> bytes:
    """The packet as raw IP bytes (linktype 101), written without ftptrace's code."""
    import struct

    if isinstance(pkt, Segment):
        return _ip_packet(pkt.src.ip, pkt.dst.ip, 6, _tcp(pkt), pkt.ttl, pkt.ip_id or 0)
    quoted_seg = Segment(
        0, 0, pkt.quoted_src, pkt.quoted_dst, 0x02, pkt.quoted_seq or 0, 0, b"", 64, 0
    )
    quoted = _ip_packet(pkt.quoted_src.ip, pkt.quoted_dst.ip, 6, _tcp(quoted_seg), 64, 0)[:28]
    v6 = ":" in pkt.sender
    body = struct.pack("!BBHI", pkt.icmp_type, pkt.icmp_code, 0, 0) + quoted
    return _ip_packet(pkt.sender, pkt.quoted_src.ip, 58 if v6 else 1, body, pkt.ttl, 0)


def write_pcap(packets: list[Packet], path: str) -> None:
    import struct

    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
        for p in packets:
            data = raw_ip(p)
            sec = int(p.ts)
            fh.write(struct.pack("<IIII", sec, int((p.ts - sec) * 1e6), len(data), len(data)))
            fh.write(data)
