"""Raw frame bytes -> `Segment` / `IcmpError` (stdlib only; the replay hot path).

Only what FTP-through-NAT diagnosis needs is decoded: TCP segments and the ICMP errors that
quote one. Everything else (UDP, ARP, other link layers) is dropped as early as possible,
and a malformed or truncated frame is dropped too: `decode` never raises, because one bad
frame in a capture of millions must not stop a replay.

Speed notes (measured, see bench/README.md): no function call per header layer on the IPv4
path, precompiled structs, `tuple.__new__` instead of the NamedTuple constructors (same
objects, a third cheaper), and a small cache of address texts because `inet_ntop` costs
more than the rest of a packet's decoding.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator, Set

from ftptrace.net.model import FIN, RST, SYN, Endpoint, IcmpError, Segment, icmp_kind
from ftptrace.net.pcap import CaptureReader, open_capture
from ftptrace.net.prefilter import PortPrefilter

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
SUPPORTED_LINKTYPES = frozenset({0, 1, 12, 14, 101, 108, 113, 228, 229, 276})

_ETH_IP4 = 0x0800
_ETH_IP6 = 0x86DD
_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)  # IEEE 802.1Q, 802.1ad, old QinQ
_AF6_VALUES = (24, 28, 30)  # AF_INET6 on NetBSD/OpenBSD, FreeBSD, Darwin
_IP6_EXT = (0, 43, 60)  # hop-by-hop, routing, destination options (RFC 8200 §4)
_KEEP_FLAGS = SYN | FIN | RST
_GREETING = b"220"  # an FTP greeting (RFC 959 §5.4) marks a control channel on any port

_tnew = tuple.__new__
_ntop = socket.inet_ntop
_AF4 = socket.AF_INET
_AF6 = socket.AF_INET6
_tcp = struct.Struct("!HHIIBB").unpack_from
_v4tcp = struct.Struct("!BxHHHBBxx4s4sHHIIBB").unpack_from
_ports_seq = struct.Struct("!HHI").unpack_from
_ports = struct.Struct("!HH").unpack_from

_CACHE_MAX = 1 << 16
_names: dict[bytes, str] = {}


def _name(raw: bytes) -> str:
    """Text of a 4- or 16-byte address, cached (bounded: cleared when full)."""
    text = _ntop(_AF4 if len(raw) == 4 else _AF6, raw)
    if len(_names) >= _CACHE_MAX:
        _names.clear()
    _names[raw] = text
    return text


def decode(
    linktype: int, data: bytes, ts: float, frame: int, ports: Set[int] | None = None
) -> Segment | IcmpError | None:
    """Decode one frame into a TCP segment or an ICMP error quoting TCP; None otherwise.

    With `ports` (see also the alias `decode_if`) only TCP segments that matter to FTP are
    kept. A segment is kept when either port is in `ports` (the control port plus the data ports
    announced so far; the caller may add to the set while reading) or it carries SYN, FIN
    or RST, so connection attempts on unannounced ports are still seen, or its payload starts
    with an FTP greeting ("220"), so control channels on any port are found. Bulk segments
    are rejected before any object is built. ICMP errors are always kept.
    """
    names = _names
    try:
        if linktype == 1 and data[12] == 8 and data[13] == 0:  # Ethernet + IPv4: most frames
            off = 14
        else:
            version, off = _link(linktype, data)
            if version != 4:
                return _ip6(data, off, ts, frame, ports) if version == 6 else None
        # IPv4 (RFC 791 §3.1) and TCP (RFC 9293 §3.1) in one unpack for the usual case:
        # a 20-byte IP header, the first fragment, TCP. Anything else takes the long way.
        (vihl, tot, ip_id, frag, ttl, proto, rsrc, rdst,
         sport, dport, seq, ack, doff, flags) = _v4tcp(data, off)
        if vihl != 0x45 or proto != 6 or frag & 0x1FFF:
            return _ip4_other(data, off, ts, frame, ports)
        doff = (doff >> 4) << 2
        # A zero total length is what TSO-offloaded captures show: use the frame's length.
        end = off + tot if tot else len(data)
        if doff < 20 or off + 20 + doff > end:
            return None
        if ports is not None and not (
            flags & _KEEP_FLAGS
            or sport in ports
            or dport in ports
            or data[off + 20 + doff : off + 23 + doff] == _GREETING
        ):
            return None
        return _tnew(
            Segment,
            (
                ts,
                frame,
                _tnew(Endpoint, (names.get(rsrc) or _name(rsrc), sport)),
                _tnew(Endpoint, (names.get(rdst) or _name(rdst), dport)),
                flags,
                seq,
                ack,
                data[off + 20 + doff : end],
                ttl,
                ip_id,
            ),
        )
    except (IndexError, ValueError, struct.error):
        return None


decode_if = decode
"""`decode` with a port prefilter: `decode_if(linktype, data, ts, frame, ports)`."""


def _link(linktype: int, data: bytes) -> tuple[int, int]:
    """(IP version, offset of the IP header) behind a link-layer header; (0, 0) if not IP."""
    if linktype == 1:
        et = data[12] << 8 | data[13]
        off = 14
        while et in _VLAN_TPIDS:  # IEEE 802.1Q tags, stacked for 802.1ad
            et = data[off + 2] << 8 | data[off + 3]
            off += 4
    elif linktype == 276:  # Linux cooked v2: protocol type first
        et = data[0] << 8 | data[1]
        off = 20
    elif linktype == 113:  # Linux cooked v1: protocol type last
        et = data[14] << 8 | data[15]
        off = 16
    elif linktype == 0 or linktype == 108:
        af = data[0] or data[3]  # host byte order of the capturing machine: either
        return (4, 4) if af == 2 else ((6, 4) if af in _AF6_VALUES else (0, 0))
    elif linktype in (101, 12, 14):
        return data[0] >> 4, 0
    elif linktype == 228:
        return 4, 0
    elif linktype == 229:
        return 6, 0
    else:
        return 0, 0
    return (4, off) if et == _ETH_IP4 else ((6, off) if et == _ETH_IP6 else (0, 0))


def _ip4_other(
    data: bytes, off: int, ts: float, frame: int, ports: Set[int] | None
) -> Segment | IcmpError | None:
    """IPv4 the fast path does not take: header options, ICMP, fragments, not IPv4."""
    b0 = data[off]
    proto = data[off + 9]
    if b0 >> 4 != 4 or (proto != 6 and proto != 1):
        return None
    if data[off + 6] & 0x1F or data[off + 7]:
        return None  # not the first fragment: no transport header in it
    ihl = (b0 & 15) << 2
    tot = data[off + 2] << 8 | data[off + 3]
    if ihl < 20 or (tot and tot < ihl):
        return None
    end = off + tot if tot else len(data)
    t = off + ihl
    if proto == 1:
        return _icmp4(data, off, t, end, ts, frame)
    sport, dport, seq, ack, doff, flags = _tcp(data, t)
    doff = (doff >> 4) << 2
    if doff < 20 or t + doff > end:
        return None
    if ports is not None and not (
        flags & _KEEP_FLAGS
        or sport in ports
        or dport in ports
        or data[t + doff : t + doff + 3] == _GREETING
    ):
        return None
    rsrc, rdst = data[off + 12 : off + 16], data[off + 16 : off + 20]
    return Segment(
        ts, frame, Endpoint(_names.get(rsrc) or _name(rsrc), sport),
        Endpoint(_names.get(rdst) or _name(rdst), dport), flags, seq, ack,
        data[t + doff : end], data[off + 8], data[off + 4] << 8 | data[off + 5],
    )


def _icmp4(
    data: bytes, off: int, i: int, end: int, ts: float, frame: int
) -> IcmpError | None:
    """ICMP destination-unreachable / time-exceeded quoting IP + 8 bytes of TCP (RFC 792)."""
    kind = icmp_kind(False, data[i], data[i + 1])
    if kind is None:
        return None
    q = i + 8  # the quoted IP header
    qb = data[q]
    qihl = (qb & 15) << 2
    if qb >> 4 != 4 or qihl < 20 or data[q + 9] != 6 or data[q + 6] & 0x1F or data[q + 7]:
        return None
    return _icmp_result(
        data, i, q + qihl, min(end, len(data)), ts, frame,
        _name(data[off + 12 : off + 16]), data[off + 8],
        data[q + 12 : q + 16], data[q + 16 : q + 20],
    )


def _icmp_result(
    data: bytes,
    i: int,
    qt: int,
    lim: int,
    ts: float,
    frame: int,
    sender: str,
    ttl: int,
    qsrc: bytes,
    qdst: bytes,
) -> IcmpError | None:
    """Build the IcmpError once the quoted TCP header's offset `qt` is known."""
    if qt + 4 > lim:
        return None  # not even the quoted ports
    qseq: int | None
    if qt + 8 <= lim:
        sport, dport, qseq = _ports_seq(data, qt)
    else:
        sport, dport = _ports(data, qt)
        qseq = None
    v6 = len(qsrc) == 16
    return IcmpError(
        ts=ts,
        frame=frame,
        sender=sender,
        icmp_type=data[i],
        icmp_code=data[i + 1],
        kind=icmp_kind(v6, data[i], data[i + 1]) or "",
        quoted_src=Endpoint(_names.get(qsrc) or _name(qsrc), sport),
        quoted_dst=Endpoint(_names.get(qdst) or _name(qdst), dport),
        quoted_seq=qseq,
        ttl=ttl,
    )


def _skip_ext6(data: bytes, nh: int, p: int) -> tuple[int, int] | None:
    """Walk IPv6 extension headers (RFC 8200 §4); None for a non-first fragment."""
    for _ in range(16):
        if nh in _IP6_EXT:
            nh, p = data[p], p + ((data[p + 1] + 1) << 3)
        elif nh == 44:  # fragment header (§4.5): 13-bit offset in 8-byte units
            if (data[p + 2] << 8 | data[p + 3]) & 0xFFF8:
                return None
            nh, p = data[p], p + 8
        elif nh == 51:  # authentication header (RFC 4302 §2.2): length in 4-byte units
            nh, p = data[p], p + ((data[p + 1] + 2) << 2)
        else:
            return nh, p
    return None


def _ip6(
    data: bytes, off: int, ts: float, frame: int, ports: Set[int] | None
) -> Segment | IcmpError | None:
    """IPv6 (RFC 8200 §3) carrying TCP or an ICMPv6 error (RFC 4443 §3)."""
    try:
        if data[off] >> 4 != 6:
            return None
        plen = data[off + 4] << 8 | data[off + 5]
        walked = _skip_ext6(data, data[off + 6], off + 40)
        if walked is None:
            return None
        nh, p = walked
        end = off + 40 + plen if plen else len(data)  # 0: jumbogram or TSO capture
        if nh == 6:
            sport, dport, seq, ack, doff, flags = _tcp(data, p)
            doff = (doff >> 4) << 2
            if doff < 20 or p + doff > end:
                return None
            if ports is not None and not (
                flags & _KEEP_FLAGS
                or sport in ports
                or dport in ports
                or data[p + doff : p + doff + 3] == _GREETING
            ):
                return None
            raw = data[off + 8 : off + 24]
            src = _names.get(raw) or _name(raw)
            raw = data[off + 24 : off + 40]
            dst = _names.get(raw) or _name(raw)
            return _tnew(
                Segment,
                (
                    ts,
                    frame,
                    _tnew(Endpoint, (src, sport)),
                    _tnew(Endpoint, (dst, dport)),
                    flags,
                    seq,
                    ack,
                    data[p + doff : end],
                    data[off + 7],
                    None,
                ),
            )
        if nh != 58 or icmp_kind(True, data[p], data[p + 1]) is None:
            return None
        q = p + 8  # the quoted IPv6 packet
        if data[q] >> 4 != 6:
            return None
        quoted = _skip_ext6(data, data[q + 6], q + 40)
        if quoted is None or quoted[0] != 6:
            return None
        return _icmp_result(
            data, p, quoted[1], min(end, len(data)), ts, frame,
            _name(data[off + 8 : off + 24]), data[off + 7],
            data[q + 8 : q + 24], data[q + 24 : q + 40],
        )
    except (IndexError, ValueError, struct.error):
        return None


class PacketReader:
    """Decoded packets of one capture, with the reader's warnings and counts.

    Iterate it once (`for pkt in reader`); `packets` counts frames read so far, `decoded`
    the Segments/IcmpErrors yielded, and `warnings` adds a note per unsupported link type
    to the file reader's own (damaged tail, truncated gzip).
    """

    def __init__(self, path: str | os.PathLike[str], ports: Set[int] | None = None) -> None:
        self._reader: CaptureReader = open_capture(path)
        self.ports = ports
        self.decoded = 0
        self.unsupported: set[int] = set()

    @property
    def packets(self) -> int:
        return self._reader.packets

    @property
    def format(self) -> str:
        return self._reader.format

    @property
    def warnings(self) -> list[str]:
        notes = [
            f"{self._reader.name}: frames with unsupported link type {lt} were skipped"
            for lt in sorted(self.unsupported)
        ]
        return self._reader.warnings + notes

    def __iter__(self) -> Iterator[Segment | IcmpError]:
        dec = decode
        ports = self.ports
        last = -1
        n = 0
        try:
            for frame, ts, lt, data, _orig, _iface in self._reader:
                if lt != last:
                    last = lt
                    if lt not in SUPPORTED_LINKTYPES:
                        self.unsupported.add(lt)
                pkt = dec(lt, data, ts, frame, ports)
                if pkt is not None:
                    n += 1
                    self.decoded = n
                    yield pkt
        finally:
            self.decoded = n

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> PacketReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_packets(path: str | os.PathLike[str], ports: Set[int] | None = None) -> PacketReader:
    """Open a capture and iterate its Segments/IcmpErrors (see `PacketReader`)."""
    return PacketReader(path, ports)


def port_prefilter(ports: Set[int]) -> PortPrefilter:
    """A `CaptureReader.keep` hook over the live `ports` set (see `net.prefilter`).

    It rejects only what it is sure of and keeps everything else for `decode`, which
    applies the same rule in full: its effect on results is nil; on speed, large.
    """
    return PortPrefilter(ports)  # type: ignore[arg-type]
