"""Writers for small pcap/pcapng files in every variant the reader must accept.

Written by hand with struct (not with the code under test) so the tests check the reader
against the format documents, not against itself.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Frame:
    """A frame to write: time in nanoseconds since the epoch keeps every format exact."""

    ns: int
    data: bytes
    orig_len: int | None = None
    linktype: int = 1
    iface: int = 0

    @property
    def wire_len(self) -> int:
        return len(self.data) if self.orig_len is None else self.orig_len


def pcap_bytes(
    frames: Sequence[Frame], *, order: str = "<", nano: bool = False, linktype: int = 1
) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)]
    for f in frames:
        sec, rest = divmod(f.ns, 1_000_000_000)
        frac = rest if nano else rest // 1000
        out.append(struct.pack(order + "IIII", sec, frac, len(f.data), f.wire_len))
        out.append(f.data)
    return b"".join(out)


def _pad(b: bytes) -> bytes:
    return b + b"\x00" * (-len(b) % 4)


def block(order: str, btype: int, body: bytes) -> bytes:
    body = _pad(body)
    n = len(body) + 12
    return struct.pack(order + "II", btype, n) + body + struct.pack(order + "I", n)


def option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + _pad(value)


def shb(order: str, options: bytes = b"") -> bytes:
    body = struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    if options:
        body += options + option(order, 0, b"")
    return block(order, 0x0A0D0D0A, body)


def idb(order: str, linktype: int, tsresol: int | None = None, tsoffset: int = 0) -> bytes:
    opts = b""
    if tsresol is not None:
        opts += option(order, 9, bytes([tsresol]))
    if tsoffset:
        opts += option(order, 14, struct.pack(order + "q", tsoffset))
    if opts:
        opts += option(order, 0, b"")
    return block(order, 1, struct.pack(order + "HHI", linktype, 0, 0) + opts)


def epb(order: str, iface: int, ticks: int, data: bytes, orig: int, comment: bytes = b"") -> bytes:
    body = struct.pack(order + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), orig)
    body += _pad(data)
    if comment:
        body += option(order, 1, comment) + option(order, 0, b"")
    return block(order, 6, body)


def pb(order: str, iface: int, ticks: int, data: bytes, orig: int) -> bytes:
    body = struct.pack(
        order + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), orig
    )
    return block(order, 2, body + data)


def spb(order: str, data: bytes, orig: int) -> bytes:
    return block(order, 3, struct.pack(order + "I", orig) + data)


@dataclass
class NgSection:
    """One pcapng section: its byte order and interfaces (link type, tsresol byte)."""

    order: str = "<"
    ifaces: list[tuple[int, int | None]] = field(default_factory=lambda: [(1, None)])


def ticks(ns: int, tsresol: int | None) -> int:
    if tsresol is None:
        return ns // 1000
    if tsresol & 0x80:
        return (ns << (tsresol & 0x7F)) // 1_000_000_000
    scale: int = 10 ** (tsresol & 0x7F)
    return ns * scale // 1_000_000_000


def pcapng_bytes(frames: Sequence[Frame], *, order: str = "<", tsresol: int | None = None) -> bytes:
    """One section, one interface per distinct link type, EPBs; extra blocks to skip."""
    lts = sorted({f.linktype for f in frames}) or [1]
    out = [shb(order, option(order, 4, b"ftptrace tests")), block(order, 0x0BAD, b"custom")]
    out += [idb(order, lt, tsresol) for lt in lts]
    out.append(block(order, 4, struct.pack(order + "HH", 0, 0)))  # empty name resolution
    for f in frames:
        out.append(epb(order, lts.index(f.linktype), ticks(f.ns, tsresol), f.data, f.wire_len))
    out.append(block(order, 5, struct.pack(order + "III", 0, 0, 0)))  # interface statistics
    return b"".join(out)


def sample_frames() -> list[Frame]:
    """A short FTP dialogue plus noise (UDP, ICMP, IPv6, VLAN), built with scapy."""
    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Dot1Q, Ether

    c, s = "192.0.2.10", "198.51.100.21"
    e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    pkts = [
        e / IP(src=c, dst=s, id=1) / TCP(sport=40000, dport=21, flags="S", seq=100),
        e / IP(src=s, dst=c, id=2) / TCP(sport=21, dport=40000, flags="SA", seq=500, ack=101),
        e / IP(src=c, dst=s, id=3) / TCP(sport=40000, dport=21, flags="A", seq=101, ack=501),
        e / IP(src=s, dst=c, id=4) / TCP(sport=21, dport=40000, flags="PA", seq=501, ack=101)
        / b"220 ready\r\n",
        e / IP(src=c, dst=s, id=5) / TCP(sport=40000, dport=21, flags="PA", seq=101, ack=512)
        / b"PASV\r\n",
        e / IP(src=s, dst=c, id=6) / TCP(sport=21, dport=40000, flags="PA", seq=512, ack=107)
        / b"227 Entering Passive Mode (198,51,100,21,195,80).\r\n",
        e / IP(src="192.0.2.1", dst="8.8.8.8") / UDP(sport=5353, dport=53)
        / DNS(qd=DNSQR(qname="example.com")),
        e / Dot1Q(vlan=7) / IP(src=c, dst=s, id=7) / TCP(sport=40001, dport=50000, flags="S"),
        e / IP(src="203.0.113.1", dst=c, ttl=250) / ICMP(type=3, code=13)
        / IP(src=c, dst=s) / TCP(sport=40001, dport=50000, flags="S", seq=9),
        e / IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=33)
        / TCP(sport=40002, dport=21, flags="S", seq=7),
        e / IP(src=c, dst=s, id=8) / TCP(sport=40000, dport=21, flags="RA", seq=107, ack=565),
    ]
    t0 = 1_700_000_000_000_000_000
    return [Frame(ns=t0 + i * 1_234_000, data=bytes(p)) for i, p in enumerate(pkts)]
