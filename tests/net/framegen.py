"""Random raw frames that walk every branch of the port prefilter, written with struct.

Ethernet or raw IPv4 (and a few non-IPv4 link payloads), IPv4 with options (IHL > 5) or a
nonsense IHL, fragments, TCP/UDP/ICMP/GRE, any TCP flags and data offset, payloads that
start with the FTP greeting "220", and frames cut anywhere (snap length, damaged records).
Most frames are the ones whose fate depends on the port set (plain TCP segments), so that
small port sets and port additions change what is kept.

Frames come from a `random.Random`: hypothesis draws the seed (fast, and a failure names
its seed), the frames are then cheap to make in bulk.
"""

from __future__ import annotations

import random
import struct

from hypothesis import strategies as st

PORT_POOL = (21, 20, 443, 2121, 40000, 50000, 50001, 65535, 0)
"""Ports the frames use most, so that small port sets match some of them."""

port_sets = st.sets(st.sampled_from(PORT_POOL), max_size=5)
seeds = st.integers(0, 2**32 - 1)

_PLAIN_FLAGS = (0x10, 0x18, 0x10, 0x00, 0x08, 0x30, 0xD0)
_KEEP_FLAGS = (0x02, 0x12, 0x01, 0x11, 0x04, 0x14, 0x29)
_FRAGS = (0x4000, 0x2000, 0x0001, 0x2010, 0x5FFF, 0x8000)
_PAYLOADS = (b"220 ready\r\n", b"220-", b"220", b"22", b"221 bye\r\n", b"\x16\x03", b"2",
             b"RETR x\r\n")


def _port(rng: random.Random) -> int:
    return rng.choice(PORT_POOL) if rng.random() < 0.8 else rng.randrange(65536)


def _payload(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.4:
        return b""
    if r < 0.7:
        return rng.choice(_PAYLOADS)
    if r < 0.8:
        return b"220" + rng.randbytes(rng.randrange(6))
    return rng.randbytes(rng.randrange(16))


def ip_packet(rng: random.Random, typical: bool) -> bytes:
    """An IPv4 packet; `typical`: a well-formed TCP segment with plain flags mostly."""
    proto = 6 if typical else rng.choice((6, 6, 17, 1, 47, rng.randrange(256)))
    sport, dport = _port(rng), _port(rng)
    if proto == 6:
        doff = 5 if typical and rng.random() < 0.8 else rng.choice((5, 6, 8, 15, 0, 4))
        flags = (rng.choice(_PLAIN_FLAGS) if typical or rng.random() < 0.5
                 else rng.choice(_KEEP_FLAGS) if rng.random() < 0.7 else rng.randrange(256))
        body = (struct.pack("!HHIIBBHHH", sport, dport, rng.getrandbits(32), 7, doff << 4,
                            flags, 1000, 0, 0)
                + rng.randbytes(max(0, doff - 5) * 4) + _payload(rng))
    elif proto == 17:
        body = struct.pack("!HHHH", sport, dport, 8, 0) + rng.randbytes(rng.randrange(9))
    else:
        body = rng.randbytes(rng.randrange(25))
    if typical:
        ihl = 5 if rng.random() < 0.8 else rng.choice((6, 7, 15))
        version, frag = 4, rng.choice((0, 0x4000))
    else:
        ihl = rng.choice((5, 5, 6, 7, 15, 0, 3))
        version = rng.choice((4, 4, 4, 6, 0))
        frag = rng.choice((0, 0x4000, *_FRAGS)) if rng.random() < 0.8 else rng.randrange(65536)
    options = rng.randbytes(max(0, ihl - 5) * 4)
    total = (20 + len(options) + len(body)) & 0xFFFF
    header = struct.pack("!BBHHHBBH4s4s", version << 4 | ihl, 0, total, 1, frag, 64, proto, 0,
                         b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02")
    return header + options + body


def frame(rng: random.Random, linktype: int) -> bytes:
    """A frame of `linktype` (1 Ethernet, 101/228 raw IP, others: raw bytes), maybe cut."""
    typical = rng.random() < 0.6
    if linktype == 1:
        ethertype = b"\x08\x00" if typical or rng.random() < 0.7 else rng.choice(
            (b"\x86\xdd", b"\x81\x00", b"\x08\x06", b"\x00\x08"))
        data = b"\x02" * 12 + ethertype + ip_packet(rng, typical)
    elif linktype in (101, 228):
        data = ip_packet(rng, typical)
    else:
        data = rng.randbytes(rng.randrange(80))
    if rng.random() < 0.15:  # cut: snap length or a damaged record
        data = data[: rng.randrange(len(data) + 1)]
    return data


def frames(seed: int, linktype: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    return [frame(rng, linktype) for _ in range(count)]


def buffer_of(
    frames: list[bytes], fill: bytes = b"\xa5" * 16
) -> tuple[bytes, list[int], list[int]]:
    """A classic-pcap-like buffer: each frame after a 16-byte filler (its record header).

    The last frame ends at the end of the buffer, as the last record of a read does.
    """
    parts: list[bytes] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for data in frames:
        parts += [fill, data]
        pos += len(fill)
        starts.append(pos)
        pos += len(data)
        ends.append(pos)
    return b"".join(parts), starts, ends
