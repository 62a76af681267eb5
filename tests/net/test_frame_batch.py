"""`net.frame_batch.describe` reads, for a whole buffer, what the per-frame path unpacks.

The replay's batch fast path (`fastpath.feed_batches`) trusts each row: its record header
fields, whether the frame is a plain Ethernet/IPv4/TCP frame, and that frame's flags, TTL,
sequence and acknowledgment numbers and payload bounds. Here every row is checked against
`struct` unpacking of the frame itself, with the per-frame path's tests, over random
frames that walk every odd case (`framegen`: IP options, fragments, cut frames, nonsense
data offsets, other link layers); and `PortPrefilter.pick_rows` keeps what the per-frame
prefilter keeps while the consumer adds ports.
"""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ftptrace.net.frame_batch import KIND_DEPENDS, KIND_KEEP, describe
from ftptrace.net.prefilter import LivePorts, PortPrefilter

from .framegen import PORT_POOL, frames, port_sets, seeds

LINKTYPES = (1, 101, 228, 113)
_FIELDS = struct.Struct("!BxHHHBB2x8xHHIIBB")


def records(data: list[bytes], order: str, seed: int) -> tuple[bytes, list[int], int]:
    """A classic pcap body: a real 16-byte record header before each frame."""
    parts: list[bytes] = []
    heads: list[int] = []
    pos = 0
    for i, frame in enumerate(data):
        head = struct.pack(order + "IIII", 1_700_000_000 + i, (seed + i) % 1_000_000,
                           len(frame), len(frame) + (i % 3))
        heads.append(pos)
        parts += [head, frame]
        pos += 16 + len(frame)
    return b"".join(parts), heads, pos


def per_frame(data: bytes) -> tuple[Any, ...] | None:
    """What `fastpath.feed_frames` reads from an Ethernet frame, or None when it would
    leave the frame to `decode`."""
    if data[12:14] != b"\x08\x00" or len(data) < 48:
        return None
    vihl, tot, ip_id, frag, ttl, proto, sport, dport, seq, ack, doff, flags = (
        _FIELDS.unpack_from(data, 14)
    )
    if vihl != 0x45 or proto != 6 or frag & 0x1FFF:
        return None
    doff = (doff >> 4) << 2
    end = 14 + tot if tot else len(data)
    if doff < 20 or 34 + doff > end:
        return None
    payload = data[34 + doff : end]
    head = data[34 + doff : min(end, 38 + doff)]
    return flags, ttl, ip_id, seq, ack, payload, head, sport, dport


@given(
    linktype=st.sampled_from(LINKTYPES),
    seed=seeds,
    count=st.integers(1, 250),
    order=st.sampled_from("<>"),
    units=st.sampled_from([10**6, 10**9]),
    first=st.integers(0, 10**9),
    shift=st.integers(0, 2**40),
)
@settings(max_examples=250, deadline=None, derandomize=True)
def test_rows_match_the_frames(
    linktype: int, seed: int, count: int, order: str, units: int, first: int, shift: int
) -> None:
    data = frames(seed, linktype, count)
    buf, heads, end = records(data, order, seed)
    rows = describe(
        linktype, buf, heads, end, order=order, units=units, first=first, shift=shift
    ).tolist()
    assert len(rows) == count
    tcp_seen = 0
    for i, (row, frame) in enumerate(zip(rows, data, strict=True)):
        (number, off, ts, incl, orig, kind, tcp, flags, ttl, ip_id, seq, ack, p0, p1, sp, dp,
         key) = row
        assert number == first + i + 1
        assert off == heads[i] + shift
        at = off - shift
        sec, frac, *lengths = struct.unpack_from(order + "IIII", buf, heads[i])
        assert [incl, orig] == lengths
        assert type(ts) is float and ts == (sec * units + frac) / units
        assert buf[at + 16 : at + 16 + incl] == frame
        assert kind in ((0, KIND_KEEP, KIND_DEPENDS) if linktype != 113 else (KIND_KEEP,))
        want = per_frame(frame) if linktype == 1 else None
        assert bool(tcp) == (want is not None)
        if want is not None:
            tcp_seen += 1
            payload = buf[at + p0 : at + p1]
            head = buf[at + p0 : at + min(p1, p0 + 4)]
            assert (flags, ttl, ip_id, seq, ack, payload, head, sp, dp) == want
            assert key == frame[26:38]
        else:
            assert key == bytes(12)
    if linktype == 1 and count > 50:
        assert tcp_seen  # the generator makes plain TCP frames most of the time


def test_no_records() -> None:
    assert len(describe(1, b"", [], 0, order="<", units=10**6, first=0)) == 0


@given(
    linktype=st.sampled_from(LINKTYPES),
    seed=seeds,
    count=st.integers(0, 200),
    ports=port_sets,
    adds=st.dictionaries(st.integers(0, 199), st.lists(st.sampled_from(PORT_POOL), max_size=3),
                         max_size=12),
    sparse=st.booleans(),
)
@settings(max_examples=300, deadline=None, derandomize=True)
def test_pick_rows_keeps_what_the_per_frame_prefilter_keeps(
    linktype: int,
    seed: int,
    count: int,
    ports: set[int],
    adds: dict[int, list[int]],
    sparse: bool,
) -> None:
    """Ports added while a kept row is handled make later records on them kept, exactly
    as judging each record when it is reached would; also when the rows of records
    dropped whatever the ports were left out (`sparse`, as the indexing helper sends)."""
    data = frames(seed, linktype, count)
    buf, heads, end = records(data, "<", seed)
    one = PortPrefilter(LivePorts(ports))
    want = []
    for i, head in enumerate(heads):
        if one(linktype, buf, head + 16, head + 16 + len(data[i])):
            want.append(i)
            one.ports.update(adds.get(i, ()))
    live = LivePorts(ports)
    batch = PortPrefilter(live)
    first = 1000
    got = []
    rows = describe(linktype, buf, heads, end, order="<", units=10**6, first=first)
    if sparse:
        rows = rows[rows["kind"] != 0]
    for row in batch.pick_rows(rows):
        index = row[0] - first - 1
        got.append(index)
        live.update(adds.get(index, ()))
    assert got == want
    assert live == one.ports and live.added == []


@given(
    stamps=st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
                    min_size=1, max_size=50),
    units=st.sampled_from([10**6, 10**9]),
    small=st.booleans(),
)
@settings(max_examples=300, deadline=None, derandomize=True)
def test_timestamps_are_what_python_computes(
    stamps: list[tuple[int, int]], units: int, small: bool
) -> None:
    """Both ways of `_timestamps` (numpy while exact, Python otherwise) give Python's
    `(sec * units + frac) / units`, to the last bit."""
    import numpy as np

    from ftptrace.net.frame_batch import _timestamps

    if small:  # nanosecond stamps early enough for the numpy way
        stamps = [(s % 9_000_000, f % 10**9) for s, f in stamps]
    sec = np.array([s for s, _ in stamps], dtype=np.uint32)
    frac = np.array([f for _, f in stamps], dtype=np.uint32)
    got = _timestamps(np, sec, frac, units).tolist()
    assert got == [(s * units + f) / units for s, f in stamps]
