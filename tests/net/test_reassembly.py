"""Reassembly: the control dialogue must not depend on how TCP cut, reordered or repeated it."""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from ftptrace.net.reassembly import HalfStream, seq_diff

from wire import Wire, ep

CLIENT_BYTES = (
    b"USER anonymous\r\nPASS x@y\r\nPASV\r\nLIST\r\nEPRT |1|203.0.113.10|40001|\r\nQUIT\r\n"
)
SERVER_BYTES = (
    b"220-Welcome\r\n220 ready\r\n331 pw\r\n230 ok\r\n"
    b"227 Entering Passive Mode (198,51,100,2,195,80).\r\n150 here\r\n226 done\r\n"
    b"200 EPRT ok\r\n221 bye\r\n"
)


def collect(chunks: list[tuple[int, bytes]], isn: int = 4_294_967_000) -> bytes:
    out: list[bytes] = []
    h = HalfStream(lambda d, ts, f: out.append(d))
    h.add(isn, 0x02, b"", 0.0, 1)
    for off, data in chunks:
        h.add((isn + 1 + off) % (1 << 32), 0x18, data, 0.0, 2)
    h.flush(0.0, 0)
    return b"".join(out)


def cut(data: bytes, points: list[int]) -> list[tuple[int, bytes]]:
    edges = sorted({0, len(data), *[p % (len(data) + 1) for p in points]})
    return [(a, data[a:b]) for a, b in itertools.pairwise(edges) if b > a]


@given(
    points=st.lists(st.integers(0, 500), max_size=12),
    seed=st.integers(0, 2**32),
    dups=st.integers(0, 4),
)
@settings(max_examples=200, deadline=None)
def test_any_cut_reorder_or_duplicate_delivers_the_same_bytes(
    points: list[int], seed: int, dups: int
) -> None:
    chunks = cut(CLIENT_BYTES, points)
    rng = random.Random(seed)
    chunks += [rng.choice(chunks) for _ in range(dups)]  # retransmissions
    rng.shuffle(chunks)  # out of order (bounded: fewer than the buffer holds)
    assert collect(chunks) == CLIENT_BYTES  # also across the 2**32 sequence wrap


def test_overlapping_retransmission_with_extra_bytes() -> None:
    assert collect([(0, b"USER a"), (3, b"R anonymous\r\n")]) == b"USER anonymous\r\n"


def test_a_hole_that_never_fills_is_skipped_and_reported() -> None:
    gaps: list[int] = []
    out: list[bytes] = []
    h = HalfStream(lambda d, ts, f: out.append(d), lambda n, ts, f: gaps.append(n))
    h.add(100, 0x02, b"", 0.0, 1)
    h.add(101, 0x18, b"AB", 0.0, 2)
    h.add(110, 0x18, b"XY", 0.0, 3)
    h.flush(0.0, 0)
    assert b"".join(out) == b"ABXY" and gaps == [7]


def test_seq_diff_wraps() -> None:
    assert seq_diff(5, 2**32 - 5) == 10
    assert seq_diff(2**32 - 5, 5) == -10


@given(points=st.lists(st.integers(0, 300), max_size=10), seed=st.integers(0, 2**32))
@settings(max_examples=100, deadline=None)
def test_trace_is_the_same_whatever_the_segmentation(points: list[int], seed: int) -> None:
    """End to end: segments cut and reordered at random give the same session."""

    def build(split: bool) -> list[tuple[str, str | None, int | None]]:
        w = Wire(hops={"198.51.100.2": 3})
        f = w.connect(ep("203.0.113.10:40000"), ep("198.51.100.2:21"))
        base_a, base_b = f.seq_a, f.seq_b
        rng = random.Random(seed)
        parts: list[tuple[bool, int, bytes]] = []
        for is_client, data, base in ((True, CLIENT_BYTES, base_a), (False, SERVER_BYTES, base_b)):
            pieces = cut(data, points) if split else [(0, data)]
            parts += [(is_client, base + off, chunk) for off, chunk in pieces]
        # Interleave the directions in causal-ish order but shuffle within a direction.
        if split:
            rng.shuffle(parts)
        for is_client, seq, chunk in parts:
            a, b = (f.a, f.b) if is_client else (f.b, f.a)
            w.seg(a, b, 0x18, seq, payload=chunk)
        (s,) = w.trace().sessions
        return [(c.verb, c.arg, c.reply.code if c.reply else None) for c in s.commands]

    whole = build(False)
    assert [v for v, _, _ in whole] == ["USER", "PASS", "PASV", "LIST", "EPRT", "QUIT"]
    # Replies are matched by order within each direction, so only the per-direction byte
    # streams matter: a shuffle across directions may pair replies differently only if
    # replies arrive before their commands, which FIFO matching still assigns in order.
    assert [v for v, _, _ in build(True)] == [v for v, _, _ in whole]


def test_bytes_counted_from_acks_when_a_snaplen_cut_the_payloads() -> None:
    h = HalfStream(None)
    h.add(1000, 0x02, b"", 0.0, 1)  # SYN: data starts at 1001
    h.add(1001, 0x10, b"x" * 100, 0.0, 2)  # 1000 bytes on the wire, 100 captured
    assert h.byte_count == 100
    h.ack(2001)
    assert h.byte_count == 1000
    h.add(2001, 0x11, b"y" * 10, 0.0, 3)  # FIN with 500 bytes, 10 captured
    h.ack(2502)  # the peer acknowledges the 500 bytes and the FIN
    assert h.byte_count == 1500
    h.ack(2400)  # an older ack changes nothing
    assert h.byte_count == 1500
