"""Packet-level values shared by every packet source (pcap, pcapng, live sniff, tshark).

These are `NamedTuple`s rather than frozen dataclasses on purpose: a replay builds
millions of them and tuple construction is several times cheaper. IP addresses are kept as
the canonical text form (`socket.inet_ntop`), which is hashable, cheap and what every
renderer needs; `ipaddress` objects are built only where a rule needs to classify one.
"""

from __future__ import annotations

from enum import IntFlag
from typing import NamedTuple


class TcpFlags(IntFlag):
    """TCP header flags (RFC 9293 §3.1)."""

    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10
    URG = 0x20
    ECE = 0x40
    CWR = 0x80


FIN = int(TcpFlags.FIN)
SYN = int(TcpFlags.SYN)
RST = int(TcpFlags.RST)
ACK = int(TcpFlags.ACK)


class Endpoint(NamedTuple):
    """An IP address (canonical text) and a TCP port."""

    ip: str
    port: int

    def __str__(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


class Segment(NamedTuple):
    """One TCP segment as seen on the wire.

    `frame` is the 1-based frame number in its capture (what Wireshark shows), 0 for live
    packets that are not being saved. `ttl` is the IPv4 TTL or IPv6 hop limit; `ip_id` is
    the IPv4 identification field (None for IPv6) — both tell a router's answer from the
    end host's.
    """

    ts: float
    frame: int
    src: Endpoint
    dst: Endpoint
    flags: int
    seq: int
    ack: int
    payload: bytes
    ttl: int
    ip_id: int | None

    @property
    def is_syn(self) -> bool:
        return bool(self.flags & SYN) and not self.flags & ACK

    @property
    def is_synack(self) -> bool:
        return bool(self.flags & SYN) and bool(self.flags & ACK)

    @property
    def is_rst(self) -> bool:
        return bool(self.flags & RST)


class IcmpError(NamedTuple):
    """An ICMP/ICMPv6 error that quotes a TCP segment (RFC 792, RFC 4443 §3).

    `sender` is the address that generated the error (a router, or the end host for
    port-unreachable); `quoted_src`/`quoted_dst` are the endpoints of the TCP segment it
    quotes, so the error can be charged to the connection that caused it.
    """

    ts: float
    frame: int
    sender: str
    icmp_type: int
    icmp_code: int
    kind: str
    quoted_src: Endpoint
    quoted_dst: Endpoint
    quoted_seq: int | None
    ttl: int


Packet = Segment | IcmpError


def icmp_kind(v6: bool, icmp_type: int, icmp_code: int) -> str | None:
    """Name an ICMP error, or None when the type is not an error that quotes a packet.

    RFC 792 (type 3 destination unreachable, 11 time exceeded), RFC 1812 §5.2.7.1 (code 13
    administratively prohibited), RFC 4443 §3.1/§3.3 for ICMPv6.
    """
    if not v6:
        if icmp_type == 3:
            return {
                0: "net-unreachable",
                1: "host-unreachable",
                2: "protocol-unreachable",
                3: "port-unreachable",
                4: "fragmentation-needed",
                9: "net-prohibited",
                10: "host-prohibited",
                13: "admin-prohibited",
            }.get(icmp_code, f"unreachable-code-{icmp_code}")
        if icmp_type == 11:
            return "time-exceeded"
        return None
    if icmp_type == 1:
        return {
            0: "net-unreachable",
            1: "admin-prohibited",
            3: "host-unreachable",
            4: "port-unreachable",
            5: "admin-prohibited",
            6: "admin-prohibited",
        }.get(icmp_code, f"unreachable-code-{icmp_code}")
    if icmp_type == 3:
        return "time-exceeded"
    return None
