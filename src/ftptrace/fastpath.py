"""The replay's read loop, with a shortcut for the bulk of connections already known.

Most kept segments of a large capture are plain ACKs, with or without payload, of a
control or data connection the builder already tracks. Decoding each into a `Segment`
(three tuples, two address lookups) and routing it by endpoint pairs costs more than the
bookkeeping it feeds. For the usual frame — Ethernet, IPv4 with a 20-byte header
(RFC 791 §3.1), TCP (RFC 9293 §3.1) — the 12 bytes of addresses and ports are looked up
as they sit in the frame (`TraceBuilder.by_wire_key`), and a plain ACK of a known
connection goes straight to `TraceBuilder.feed_plain` (its SYN-ACK, FIN or RST to
`feed_flagged`); a segment of an unknown connection that `decode` would drop (no port in
the live set, no flag, no greeting) is skipped as `decode` would, and one that surely
starts nothing FTP (`TraceBuilder.feed_unrelated`: the HTTPS flows around it) is only
counted. Everything else takes the full path (`net.decode.decode` then
`TraceBuilder.feed`); the results are the same either way, which the tests check against
the full path on every shipped capture and on generated noise.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Set

from ftptrace.net.decode import decode
from ftptrace.net.frame_batch import FrameBatch
from ftptrace.net.pcap import RawFrame
from ftptrace.trace import TraceBuilder

_FIELDS = struct.Struct("!BxHHHBB2x8xHHIIBB").unpack_from
"""IPv4 version/IHL, total length, identification, fragment field, TTL, protocol; TCP
ports, seq, ack, data offset, flags — from the IPv4 header at offset 14 of an Ethernet
frame."""
_NOT_PLAIN = 0x17  # SYN, FIN, RST, ACK: a plain segment has only ACK of these
_SYN_FIN_RST = 0x07
_GREETING = b"220"  # as `net.decode`: an FTP greeting keeps a segment on any port


def feed_frames(frames: Iterable[RawFrame], builder: TraceBuilder, ports: Set[int]) -> None:
    """Decode and feed every frame to `builder`, plain ACKs of known connections directly."""
    feed = builder.feed
    feed_plain = builder.feed_plain
    feed_flagged = builder.feed_flagged
    feed_unrelated = builder.feed_unrelated
    known = builder.by_wire_key
    fields = _FIELDS
    for frame, ts, linktype, data, _orig, _iface in frames:
        if linktype == 1 and data[12:14] == b"\x08\x00" and len(data) >= 48:
            (vihl, tot, ip_id, frag, ttl, proto, sport, dport, seq, ack, doff, flags) = fields(
                data, 14
            )
            if vihl == 0x45 and proto == 6 and not frag & 0x1FFF:
                doff = (doff >> 4) << 2
                end = 14 + tot if tot else len(data)
                if doff >= 20 and 34 + doff <= end:
                    entry = known.get(data[26:38])
                    if entry is not None:
                        payload = data[34 + doff : end]
                        if (
                            feed_plain(entry[0], entry[1], ts, frame, seq, ack, payload, ttl)
                            if flags & _NOT_PLAIN == 0x10
                            else feed_flagged(
                                entry[0], entry[1], ts, frame, flags, seq, ack, payload, ttl,
                                ip_id,
                            )
                        ):
                            continue
                    else:
                        if not (
                            flags & _SYN_FIN_RST
                            or sport in ports
                            or dport in ports
                            or data[34 + doff : 37 + doff] == _GREETING  # as decode reads it
                        ):
                            continue  # what `decode(..., ports)` drops: never fed
                        head = data[34 + doff : min(end, 38 + doff)]
                        if feed_unrelated(sport, dport, flags, head, ts):
                            continue
        pkt = decode(linktype, data, ts, frame, ports)
        if pkt is not None:
            feed(pkt)


def feed_batches(batches: Iterable[FrameBatch], builder: TraceBuilder, ports: Set[int]) -> None:
    """`feed_frames` over described buffers (`net.frame_batch`): the same decisions, read
    from each row's fields instead of unpacked from the frame, which is sliced only when
    it must be decoded."""
    feed = builder.feed
    feed_plain = builder.feed_plain
    feed_flagged = builder.feed_flagged
    feed_unrelated = builder.feed_unrelated
    known = builder.by_wire_key
    for data, linktype, rows, _last in batches:
        for (
            frame, off, ts, incl, _orig, _kind, tcp, flags, ttl, ip_id, seq, ack, p0, p1,
            sport, dport, key,
        ) in rows:
            if tcp:
                # Sliced only when there is a payload: the frame's page stays untouched.
                payload = data[off + p0 : off + p1] if p1 > p0 else b""
                entry = known.get(key)
                if entry is not None:
                    if (
                        feed_plain(entry[0], entry[1], ts, frame, seq, ack, payload, ttl)
                        if flags & _NOT_PLAIN == 0x10
                        else feed_flagged(
                            entry[0], entry[1], ts, frame, flags, seq, ack, payload, ttl, ip_id
                        )
                    ):
                        continue
                else:
                    at = off + p0  # decode reads the greeting past the IPv4 length, not the frame
                    if not (
                        flags & _SYN_FIN_RST
                        or sport in ports
                        or dport in ports
                        or data[at : min(at + 3, off + 16 + incl)] == _GREETING
                    ):
                        continue  # what `decode(..., ports)` drops: never fed
                    if feed_unrelated(sport, dport, flags, payload[:4], ts):
                        continue
            pkt = decode(linktype, data[off + 16 : off + 16 + incl], ts, frame, ports)
            if pkt is not None:
                feed(pkt)
