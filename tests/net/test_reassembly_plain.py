"""`ConnState.plain` hands a segment without SYN or FIN straight to
`HalfStream.add_payload`: it must leave the stream exactly as `add` would (deliveries,
gaps, counters), whatever the order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ftptrace.net.model import ACK, SYN, Endpoint
from ftptrace.net.reassembly import MOD, ConnState, HalfStream

_ORIG = Endpoint("10.0.0.1", 40000)
_RESP = Endpoint("10.0.0.2", 21)


def _state(h: HalfStream) -> tuple[object, ...]:
    return (h.next_seq, h.base, h.high, dict(h.pending), h.pending_bytes, h.gaps, h.byte_count)


segments = st.lists(
    st.tuples(st.integers(-40, 400), st.binary(min_size=0, max_size=40)), max_size=40
)


@settings(max_examples=300, deadline=None)
@given(
    isn=st.sampled_from([0, 1000, MOD - 50]),
    syn=st.booleans(),
    control=st.booleans(),
    segs=segments,
)
def test_plain_matches_add(
    isn: int, syn: bool, control: bool, segs: list[tuple[int, bytes]]
) -> None:
    got: list[tuple[bytes, int]] = []
    want: list[tuple[bytes, int]] = []
    got_gaps: list[int] = []
    want_gaps: list[int] = []
    conn = ConnState(_ORIG, _RESP, 0.0, 1)
    ref = HalfStream(None)
    if control:
        conn.to_resp.deliver = lambda data, ts, frame: got.append((data, frame))
        conn.to_resp.on_gap = lambda lost, ts, frame: got_gaps.append(lost)
        ref.deliver = lambda data, ts, frame: want.append((data, frame))
        ref.on_gap = lambda lost, ts, frame: want_gaps.append(lost)
    if syn:
        conn.to_resp.add(isn, SYN, b"", 0.0, 1)
        ref.add(isn, SYN, b"", 0.0, 1)
    for frame, (offset, payload) in enumerate(segs, start=2):
        seq = (isn + 1 + offset) % MOD
        conn.plain(True, 0.0, frame, seq, 0, payload, 64)
        ref.add(seq, ACK, payload, 0.0, frame)
        assert _state(conn.to_resp) == _state(ref)
    conn.to_resp.flush(0.0, 999)
    ref.flush(0.0, 999)
    assert got == want
    assert got_gaps == want_gaps
    assert _state(conn.to_resp) == _state(ref)
