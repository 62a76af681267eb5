"""The batch prefilter (numpy, a buffer at a time) judges exactly as `__call__` does.

`net.frame_batch.describe` classifies a whole buffer of records up front (`classify`) and
`PortPrefilter.pick_rows` then re-judges the records further on whenever the consumer
added ports while handling a frame; `__call__` judges one frame against the port set as it
is when the frame is reached. Both must keep the same frames, and `LivePorts` must keep
its lookup table and its log of additions exact.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftptrace.net.frame_batch import describe
from ftptrace.net.prefilter import CLASSIFIED_LINKTYPES, LivePorts, PortPrefilter

from .framegen import PORT_POOL, buffer_of, frames, port_sets, seeds

CLASSIFIED = sorted(CLASSIFIED_LINKTYPES)


def select(
    keep: PortPrefilter, linktype: int, buf: bytes, starts: list[int], ends: list[int]
) -> Iterator[int]:
    """What the reader does with one buffer of records (`buffer_of`: each frame after its
    16-byte record header): `describe` them, then `pick_rows`; the kept records' indices."""
    last_end = ends[-1] if ends else 0
    rows = describe(linktype, buf, [s - 16 for s in starts], last_end, order="<",
                    units=10**6, first=0)
    return (row[0] - 1 for row in keep.pick_rows(rows))


def members(table: np.ndarray) -> list[int]:
    return np.flatnonzero(table).tolist()


# -- LivePorts ------------------------------------------------------------------------------

_op = st.one_of(
    st.tuples(st.just("add"), st.integers(0, 65535) | st.sampled_from(PORT_POOL)),
    st.tuples(st.just("update"), st.lists(st.sampled_from(PORT_POOL) | st.integers(0, 65535),
                                          max_size=4)),
    st.tuples(st.just("keep"), st.sets(st.sampled_from(PORT_POOL), max_size=5)),
    st.tuples(st.just("look"), st.none()),
    st.tuples(st.just("clear-log"), st.none()),
)


@given(initial=port_sets, ops=st.lists(_op, max_size=25))
@settings(max_examples=300, deadline=None, derandomize=True)
def test_live_ports_table_and_log_follow_membership(
    initial: set[int], ops: list[tuple[str, object]]
) -> None:
    live = LivePorts(initial)
    model = set(initial)
    log: list[int] = []
    assert live.added == []  # the initial ports are not "added"
    for op, arg in ops:
        if op == "add":
            assert isinstance(arg, int)
            live.add(arg)
            if arg not in model:
                model.add(arg)
                log.append(arg)
        elif op == "update":
            assert isinstance(arg, list)
            live.update(arg)
            for port in arg:
                if port not in model:
                    model.add(port)
                    log.append(port)
        elif op == "keep":
            assert isinstance(arg, set)
            live.intersection_update(arg)
            model &= arg
        elif op == "look":
            assert members(live.table) == sorted(model)  # built now, updated in place later
        else:
            live.added.clear()
            log.clear()
        assert set(live) == model
        assert live.added == log
    assert members(live.table) == sorted(model)
    assert live.table.dtype == np.bool_ and live.table.shape == (65536,)


def test_live_ports_table_rebuilt_exactly_after_intersection_update() -> None:
    live = LivePorts({21, 50000, 50001})
    table = live.table
    assert members(table) == [21, 50000, 50001]
    live.add(40000)
    assert live.table is table and members(table) == [21, 40000, 50000, 50001]
    live.intersection_update({21, 40000, 7})
    assert members(live.table) == [21, 40000]  # not a superset: rebuilt
    live.update([7, 21])
    assert members(live.table) == [7, 21, 40000]
    assert live.added == [40000, 7]


def test_live_ports_update_of_several_iterables_and_empty_set() -> None:
    live = LivePorts()
    assert members(live.table) == []
    live.update([1, 2], (2, 3), iter([65535]))
    assert live == {1, 2, 3, 65535}
    assert live.added == [1, 2, 3, 65535]
    assert members(live.table) == [1, 2, 3, 65535]


# -- the batch prefilter == __call__, fixed port set --------------------------------------------


def judged_one_by_one(
    keep: PortPrefilter, linktype: int, buf: bytes, starts: list[int], ends: list[int]
) -> list[int]:
    return [i for i, (s, e) in enumerate(zip(starts, ends, strict=True))
            if keep(linktype, buf, s, e)]


@given(
    linktype=st.sampled_from(CLASSIFIED),
    seed=seeds,
    count=st.integers(0, 300),
    ports=port_sets,
    fill=st.binary(min_size=16, max_size=16),
)
@settings(max_examples=300, deadline=None, derandomize=True)
def test_select_keeps_what_call_keeps(
    linktype: int, seed: int, count: int, ports: set[int], fill: bytes
) -> None:
    buf, starts, ends = buffer_of(frames(seed, linktype, count), fill)
    keep = PortPrefilter(LivePorts(ports))
    assert keep.batched
    expected = judged_one_by_one(keep, linktype, buf, starts, ends)
    assert list(select(keep, linktype, buf, starts, ends)) == expected


def test_select_covers_every_decision() -> None:
    """A fixed buffer where each rule decides one frame, so the batch masks all matter."""
    import struct

    def eth_tcp(sport: int, dport: int, flags: int, payload: bytes = b"", ihl: int = 5,
                frag: int = 0, proto: int = 6) -> bytes:
        tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 2, 5 << 4, flags, 1, 0, 0) + payload
        opts = b"\x01" * ((ihl - 5) * 4)
        ip = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(opts) + len(tcp), 1, frag, 64,
                         proto, 0, b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02")
        return b"\x02" * 12 + b"\x08\x00" + ip + opts + tcp

    frames = [
        eth_tcp(40000, 443, 0x10),  # 0 bulk: dropped
        eth_tcp(40000, 443, 0x02),  # 1 SYN: kept
        eth_tcp(40000, 21, 0x10),  # 2 port in set: kept
        eth_tcp(40000, 443, 0x18, b"220 hi"),  # 3 greeting: kept
        eth_tcp(40000, 443, 0x10, ihl=7),  # 4 IP options, bulk: dropped
        eth_tcp(21, 443, 0x10, ihl=7),  # 5 IP options, port in set: kept
        eth_tcp(40000, 443, 0x10, frag=0x2000),  # 6 fragment: kept for decode
        eth_tcp(40000, 443, 0x10, proto=17),  # 7 UDP: dropped
        eth_tcp(40000, 443, 0x10, proto=1),  # 8 ICMP: kept
        eth_tcp(40000, 443, 0x10)[:40],  # 9 too short to judge: kept
        eth_tcp(40000, 443, 0x10, b"22"),  # 10 not a whole greeting: dropped
        eth_tcp(40000, 443, 0x10, frag=0x4000),  # 11 DF only, bulk: dropped
        eth_tcp(40000, 443, 0x10, ihl=15)[:60],  # 12 TCP header cut off: kept
    ]
    buf, starts, ends = buffer_of(frames)
    keep = PortPrefilter(LivePorts({21}))
    want = [1, 2, 3, 5, 6, 8, 9, 12]
    assert judged_one_by_one(keep, 1, buf, starts, ends) == want
    assert list(select(keep, 1, buf, starts, ends)) == want


# -- the batch prefilter with ports added while the consumer handles frames ---------------------


def consume(
    keep: PortPrefilter,
    linktype: int,
    buf: bytes,
    starts: list[int],
    ends: list[int],
    adds: dict[int, list[int]],
) -> list[int]:
    """The consumer: handles each kept frame, adding the ports `adds` says for it."""
    ports = keep.ports
    got = []
    for i in select(keep, linktype, buf, starts, ends):
        got.append(i)
        for port in adds.get(i, ()):
            ports.add(port)
    return got


def reference(
    keep: PortPrefilter,
    linktype: int,
    buf: bytes,
    starts: list[int],
    ends: list[int],
    adds: dict[int, list[int]],
) -> list[int]:
    """Each record judged by __call__ against the set as it is when the record is reached."""
    ports = keep.ports
    got = []
    for i, (s, e) in enumerate(zip(starts, ends, strict=True)):
        if keep(linktype, buf, s, e):
            got.append(i)
            for port in adds.get(i, ()):
                ports.add(port)
    return got


@given(
    linktype=st.sampled_from(CLASSIFIED),
    seed=seeds,
    count=st.integers(0, 200),
    ports=port_sets,
    adds=st.dictionaries(st.integers(0, 199), st.lists(st.sampled_from(PORT_POOL), max_size=3),
                         max_size=12),
)
@settings(max_examples=300, deadline=None, derandomize=True)
def test_select_rejudges_after_ports_are_added(
    linktype: int, seed: int, count: int, ports: set[int], adds: dict[int, list[int]]
) -> None:
    buf, starts, ends = buffer_of(frames(seed, linktype, count))
    live = LivePorts(ports)
    batch = PortPrefilter(live)
    one = PortPrefilter(LivePorts(ports))
    expected = reference(one, linktype, buf, starts, ends, adds)
    assert consume(batch, linktype, buf, starts, ends, adds) == expected
    assert live == one.ports
    assert live.added == []  # pick_rows consumed its log


def test_port_added_after_frame_k_keeps_later_records_on_it() -> None:
    """The 227 case: frame 1 announces port 50000; frames 3 and 5 then matter, frame 0 not."""
    import struct

    def eth_ack(sport: int, dport: int) -> bytes:
        tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 2, 5 << 4, 0x10, 1, 0, 0)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0,
                         b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02")
        return b"\x02" * 12 + b"\x08\x00" + ip + tcp

    frames = [eth_ack(40001, 50000), eth_ack(40000, 21), eth_ack(40000, 443),
              eth_ack(40001, 50000), eth_ack(40002, 50001), eth_ack(50000, 40001)]
    buf, starts, ends = buffer_of(frames)
    keep = PortPrefilter(LivePorts({21}))
    assert list(select(keep, 1, buf, starts, ends)) == [1]
    adds = {1: [50000]}
    assert consume(keep, 1, buf, starts, ends, adds) == [1, 3, 5]
    keep = PortPrefilter(LivePorts({21}))
    assert reference(keep, 1, buf, starts, ends, adds) == [1, 3, 5]
    # Added while handling the last kept frame of one buffer: the next buffer sees it.
    keep = PortPrefilter(LivePorts({21}))
    assert consume(keep, 1, buf, starts[:2], ends[:2], adds) == [1]
    assert list(select(keep, 1, buf, starts[2:], ends[2:])) == [1, 3]  # frames 3 and 5


@pytest.mark.parametrize("linktype", [0, 12, 113, 229, 276, 147])
def test_unsupported_linktypes_keep_every_record(linktype: int) -> None:
    frames = [b"", b"\x00" * 60, b"\x45" + b"\x00" * 70, b"\x11" * 3]
    buf, starts, ends = buffer_of(frames)
    keep = PortPrefilter(LivePorts())
    assert list(select(keep, linktype, buf, starts, ends)) == [0, 1, 2, 3]
    assert judged_one_by_one(keep, linktype, buf, starts, ends) == [0, 1, 2, 3]


@pytest.mark.parametrize("linktype", [1, 101, 113])
def test_select_of_no_records(linktype: int) -> None:
    assert list(select(PortPrefilter(LivePorts()), linktype, b"", [], [])) == []
