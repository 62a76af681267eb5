"""The batched classic-pcap readers give what the per-record reader gives.

Three ways to read a classic pcap with the replay's port prefilter:

* `keep` only: `PortPrefilter.__call__` asked one record at a time (the reference);
* `keep_batch`: a buffer judged at once (`PortPrefilter.select`);
* `keep_batch` on a big plain file with a second core: `net.indexer`, a helper process
  walks and classifies the records while this process picks and slices them.

(The first two share `PcapWalk`, which finds the records; the tail notes it writes are
checked against fixed texts below and in test_pcap.py.) All must yield the same frames
(every `RawFrame` field), count the same `packets` and say
the same `warnings`, for any file: both byte orders, both time resolutions, records of any
size (zero, and bigger than the read buffer: `pcap.CHUNK` is lowered so that small files
refill it often), damaged tails, and ports added by the consumer while it reads.
"""

from __future__ import annotations

import gc
import gzip
import random
import struct
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftptrace.net import pcap as pcap_module
from ftptrace.net.pcap import MAX_RECORD, RawFrame, open_capture
from ftptrace.net.prefilter import LivePorts, PortPrefilter

from .framegen import PORT_POOL, frame, port_sets, seeds

TAILS = ("none", "header", "record", "absurd-end", "absurd-mid")
_MAGIC = {False: 0xA1B2C3D4, True: 0xA1B23C4D}


def make_pcap(
    seed: int,
    *,
    order: str = "<",
    nano: bool = False,
    linktype: int = 1,
    count: int = 50,
    tail: str = "none",
) -> bytes:
    """A classic pcap of random records (frames that exercise the prefilter, empty records,
    records far bigger than a lowered CHUNK), ending as `tail` says."""
    rng = random.Random(seed)
    units = 1_000_000_000 if nano else 1_000_000
    out = [struct.pack(order + "IHHiIII", _MAGIC[nano], 2, 4, 0, 0, 262144, linktype)]

    def record(data: bytes) -> bytes:
        frac = rng.randrange(units) if rng.random() < 0.95 else rng.randrange(2**32)
        orig = len(data) if rng.random() < 0.7 else len(data) + rng.randrange(1, 70000)
        return struct.pack(order + "IIII", rng.randrange(2**32), frac, len(data), orig) + data

    def records(n: int) -> None:
        for _ in range(n):
            r = rng.random()
            if r < 0.1:
                data = b""
            elif r < 0.2:  # big: a frame with a long tail, or random bytes
                data = frame(rng, linktype) + rng.randbytes(rng.randrange(100, 1500))
            else:
                data = frame(rng, linktype)
            out.append(record(data))

    records(count)
    if tail == "header":
        out.append(rng.randbytes(rng.randrange(1, 16)))
    elif tail == "record":
        incl = rng.randrange(1, 3000)
        out.append(struct.pack(order + "IIII", 1, 2, incl, incl))
        out.append(rng.randbytes(rng.randrange(incl)))
    elif tail in ("absurd-end", "absurd-mid"):
        incl = rng.randrange(MAX_RECORD + 1, 2**32)
        out.append(struct.pack(order + "IIII", 1, 2, incl, incl))
        if tail == "absurd-end":
            out.append(rng.randbytes(rng.randrange(40)))
        else:
            records(rng.randrange(1, 20))  # never read: the file is taken as damaged there
    return b"".join(out)


TAIL_NOTE = {
    "none": None,
    "header": "partial record header (",
    "record": "partial record (",
    "absurd-end": "is not plausible",
    "absurd-mid": "is not plausible",
}


class Read:
    """What one read of a capture gave."""

    def __init__(self, frames: list[RawFrame], packets: int, warnings: list[str], indexed: Any):
        self.frames = frames
        self.packets = packets
        self.warnings = warnings
        self.indexed = indexed

    def same_as(self, other: Read) -> None:
        assert len(self.frames) == len(other.frames)
        for a, b in zip(self.frames, other.frames, strict=True):
            assert type(a) is RawFrame and type(b) is RawFrame
            assert a == b
        assert self.packets == other.packets
        assert self.warnings == other.warnings


def read(
    path: Path,
    mode: str,
    ports: set[int],
    adds: dict[int, list[int]] | None = None,
    helper: bool = False,
) -> Read:
    """Read `path` with the prefilter over `ports`; `adds`: frame number -> ports the
    consumer adds after handling that frame (a 227 reply announcing a data port).

    mode "batch": keep and keep_batch set, as `replay.read_trace` does; "each": keep only;
    "all": no prefilter, each frame then judged by `__call__` against the live set.
    """
    adds = adds or {}
    keep = PortPrefilter(LivePorts(ports))
    got: list[RawFrame] = []
    with open_capture(path) as reader:
        if not helper:
            reader.helper_min_bytes = 1 << 62
        if mode in ("batch", "each"):
            reader.keep = keep
        if mode == "batch":
            reader.keep_batch = keep
        for f in reader:
            if mode == "all" and not keep(f.linktype, f.data, 0, len(f.data)):
                continue
            got.append(f)
            keep.ports.update(adds.get(f.frame, ()))
        indexed = reader._indexed
        return Read(got, reader.packets, list(reader.warnings), indexed)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("batched")


_adds = st.dictionaries(
    st.integers(1, 80), st.lists(st.sampled_from(PORT_POOL), min_size=1, max_size=2), max_size=6
)


@given(
    seed=seeds,
    order=st.sampled_from("<>"),
    nano=st.booleans(),
    linktype=st.sampled_from([1, 1, 1, 101, 228, 113]),
    count=st.integers(0, 80),
    tail=st.sampled_from(TAILS),
    chunk=st.sampled_from([64, 200, 1 << 20]),
    ports=port_sets,
    adds=_adds,
)
@settings(max_examples=150, deadline=None, derandomize=True)
def test_batched_read_equals_per_record_read(
    workdir: Path,
    seed: int,
    order: str,
    nano: bool,
    linktype: int,
    count: int,
    tail: str,
    chunk: int,
    ports: set[int],
    adds: dict[int, list[int]],
) -> None:
    path = workdir / "gen.pcap"
    path.write_bytes(make_pcap(seed, order=order, nano=nano, linktype=linktype, count=count,
                               tail=tail))
    with mock.patch.object(pcap_module, "CHUNK", chunk):
        batch = read(path, "batch", ports, adds)
        each = read(path, "each", ports, adds)
        every = read(path, "all", ports, adds)
        static = read(path, "batch", ports)
        static_each = read(path, "each", ports)
    batch.same_as(each)
    every.same_as(each)
    static.same_as(static_each)
    assert batch.indexed is None  # in process: the file is small
    note = TAIL_NOTE[tail]
    if note is None:
        assert batch.warnings == []
    else:
        assert len(batch.warnings) == 1 and note in batch.warnings[0]
    assert batch.packets == count  # records after an absurd length are never read


def test_records_bigger_than_the_buffer_and_empty_ones(workdir: Path) -> None:
    """Hand-made: with CHUNK at 64 bytes every record but the empty ones needs a refill."""
    frames = [b"", b"\x01" * 500, b"", b"\x02" * 63, b"\x03" * 64, b"\x04" * 65, b"\x05" * 4000]
    body = b"".join(struct.pack("<IIII", i, 7, len(d), len(d) + 1) + d
                    for i, d in enumerate(frames))
    path = workdir / "big.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 147) + body)
    with mock.patch.object(pcap_module, "CHUNK", 64):
        batch = read(path, "batch", set())
        each = read(path, "each", set())
    batch.same_as(each)
    assert [(f.frame, f.ts, f.linktype, f.data, f.orig_len, f.iface) for f in batch.frames] == [
        (i + 1, i + 7e-6, 147, d, len(d) + 1, 0) for i, d in enumerate(frames)
    ]
    assert batch.packets == len(frames) and batch.warnings == []


@pytest.mark.parametrize("tail", TAILS)
@pytest.mark.parametrize("truncate", [False, True])
def test_gzip_batched_read_equals_plain(workdir: Path, tail: str, truncate: bool) -> None:
    raw = make_pcap(11, count=120, tail=tail)
    plain, packed = workdir / "z.pcap", workdir / "z.pcap.gz"
    plain.write_bytes(raw)
    gz = gzip.compress(raw, mtime=0)
    packed.write_bytes(gz[: len(gz) * 2 // 3] if truncate else gz)
    ports = {21, 50000}
    with mock.patch.object(pcap_module, "CHUNK", 200):
        z_batch = read(packed, "batch", ports, {3: [443]})
        z_each = read(packed, "each", ports, {3: [443]})
        p_batch = read(plain, "batch", ports, {3: [443]})
    z_batch.same_as(z_each)
    assert z_batch.indexed is None
    if truncate:
        assert z_batch.frames == p_batch.frames[: len(z_batch.frames)]
        assert any("truncated .gz" in w for w in z_batch.warnings)
    else:
        assert z_batch.frames == p_batch.frames
        assert z_batch.packets == p_batch.packets
        assert [w.replace(str(packed), "F") for w in z_batch.warnings] == [
            w.replace(str(plain), "F") for w in p_batch.warnings
        ]
    assert z_batch.frames  # the prefilter kept something to compare


# -- the helper process (net.indexer) -------------------------------------------------------


@pytest.mark.parametrize(
    ("tail", "order", "nano", "linktype"),
    [
        ("none", "<", False, 1),
        ("header", ">", True, 1),
        ("record", "<", True, 101),
        ("absurd-end", ">", False, 1),
        ("absurd-mid", "<", False, 228),
        ("none", ">", False, 113),  # a link type the prefilter cannot judge: all kept
    ],
)
def test_helper_process_equals_in_process(
    workdir: Path, helper_on: list[Any], tail: str, order: str, nano: bool, linktype: int
) -> None:
    path = workdir / f"helper-{tail}-{linktype}.pcap"
    path.write_bytes(make_pcap(5, order=order, nano=nano, linktype=linktype, count=300,
                               tail=tail))
    ports, adds = {21}, {2: [50000], 40: [443, 40000], 41: [40000]}
    in_process = read(path, "batch", ports, adds)
    assert helper_on == []
    helped = read(path, "batch", ports, adds, helper=True)
    assert len(helper_on) == 1 and helped.indexed is helper_on[0]
    assert helped.indexed._proc.poll() is not None  # ended with the read
    helped.same_as(in_process)
    read(path, "each", ports, adds).same_as(helped)
    assert helped.frames
    note = TAIL_NOTE[tail]
    if note is not None:
        assert len(helped.warnings) == 1 and note in helped.warnings[0]


def big_pcap(path: Path, records: int) -> None:
    """Several of the helper's 1 MiB chunks of Ethernet TCP segments, alternately plain ACKs
    to port 50000 + i % 7 and SYNs, each record numbered in its payload."""
    rng = random.Random(3)
    parts = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i in range(records):
        payload = struct.pack("!I", i) + rng.randbytes(rng.randrange(40))
        tcp = struct.pack("!HHIIBBHHH", 40000, 50000 + i % 7, i, 0, 5 << 4,
                          0x02 if i % 5 == 0 else 0x10, 1, 0, 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0,
                         b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02")
        data = b"\x02" * 12 + b"\x08\x00" + ip + tcp
        parts.append(struct.pack("<IIII", 1_700_000_000 + i // 1000, i % 1000, len(data),
                                 len(data)) + data)
    path.write_bytes(b"".join(parts))


def test_helper_process_over_several_chunks_with_ports_added(
    workdir: Path, helper_on: list[Any]
) -> None:
    path = workdir / "chunks.pcap"
    big_pcap(path, 60_000)
    assert path.stat().st_size > 3 << 20
    # Ports appear at frames spread over the file (about 13 000 records per 1 MiB chunk):
    # the re-judging inside a chunk and the next chunks' tables must both see them.
    adds = {1: [50001], 20_001: [50002], 20_002: [50003], 41_000: [50004, 50005]}
    in_process = read(path, "batch", {21}, adds)
    helped = read(path, "batch", {21}, adds, helper=True)
    assert len(helper_on) == 1
    helped.same_as(in_process)
    assert helped.packets == 60_000
    kept_ports = {struct.unpack("!H", f.data[36:38])[0] for f in helped.frames}
    assert kept_ports == {50000, 50001, 50002, 50003, 50004, 50005, 50006}  # SYNs + added


def test_closing_early_stops_the_helper(workdir: Path, helper_on: list[Any]) -> None:
    path = workdir / "early.pcap"
    big_pcap(path, 100_000)  # an index far bigger than a pipe's buffer: the helper waits
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reader = open_capture(path)
        keep = PortPrefilter(LivePorts({21}))
        reader.keep_batch = keep
        first = next(iter(reader))
        assert first.frame == 1
        (made,) = helper_on
        proc = made._proc
        assert proc.poll() is None  # still indexing, blocked on the full pipe
        reader.close()
        assert proc.poll() is not None
        assert proc.stdout is None or proc.stdout.closed
        assert made._map.closed
        del reader, made, proc, first
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == [], [str(w.message) for w in leaks]


def test_closing_before_the_first_frame_stops_the_helper(
    workdir: Path, helper_on: list[Any]
) -> None:
    path = workdir / "early.pcap"
    big_pcap(path, 100_000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_capture(path) as reader:
            reader.keep_batch = PortPrefilter(LivePorts({21}))
            frames: Iterator[RawFrame] = iter(reader)
            assert reader._indexed is not None  # the helper starts with the iteration
            proc = reader._indexed._proc
        assert proc.poll() is not None
        del reader, frames, proc
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_gzip_never_uses_the_helper(workdir: Path, helper_on: list[Any]) -> None:
    raw = make_pcap(8, count=200, tail="record")
    plain, packed = workdir / "h.pcap", workdir / "h.pcap.gz"
    plain.write_bytes(raw)
    packed.write_bytes(gzip.compress(raw, mtime=0))
    z = read(packed, "batch", {21}, {4: [443]}, helper=True)
    assert helper_on == [] and z.indexed is None
    p = read(plain, "batch", {21}, {4: [443]}, helper=True)
    assert len(helper_on) == 1  # the plain file would have used it
    assert z.frames == p.frames and z.packets == p.packets
    assert len(z.warnings) == len(p.warnings) == 1


def test_helper_not_used_below_min_bytes_or_on_one_core(
    workdir: Path, helper_on: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = workdir / "small.pcap"
    path.write_bytes(make_pcap(9, count=30))
    with open_capture(path) as reader:
        assert reader.helper_min_bytes == 0  # copied from pcap.HELPER_MIN_BYTES
        reader.helper_min_bytes = path.stat().st_size + 1
        reader.keep_batch = PortPrefilter(LivePorts({21}))
        list(reader)
        assert reader._indexed is None
    monkeypatch.setattr("ftptrace.net.indexer.os.cpu_count", lambda: 1)
    assert read(path, "batch", {21}, helper=True).indexed is None
    assert helper_on == []


def test_a_helper_that_cannot_start_falls_back_to_reading_in_process(
    workdir: Path, helper_on: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No numpy or no interpreter in the helper: it exits before indexing anything, and
    the replay must still read the file (in process), not fail."""
    path = workdir / "fallback.pcap"
    path.write_bytes(make_pcap(9, count=300, tail="record"))
    ports, adds = {21}, {2: [50000], 40: [443, 40000]}
    in_process = read(path, "batch", ports, adds)
    monkeypatch.setattr("ftptrace.net.indexer.sys.executable", "/bin/false")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fallen = read(path, "batch", ports, adds, helper=True)
        (made,) = helper_on  # the helper was tried...
        assert made._proc.poll() is not None and made._map.closed
        del made
        gc.collect()
    assert fallen.indexed is None  # ...and the reader went on without it
    fallen.same_as(in_process)
    assert fallen.frames
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_helper_started_at_open_is_the_one_used(workdir: Path, helper_on: list[Any]) -> None:
    """`open_capture(..., start_helper=True)` starts the helper before the first frame (so
    it loads while the caller imports the analysis) and the read then uses that one."""
    path = workdir / "early-start.pcap"
    path.write_bytes(make_pcap(11, count=300, tail="record"))
    want = read(path, "batch", {21}, {2: [50000]})
    assert helper_on == []
    with open_capture(path, start_helper=True) as reader:
        assert len(helper_on) == 1 and reader._early is helper_on[0]
        keep = PortPrefilter(LivePorts({21}))
        reader.keep, reader.keep_batch = keep, keep
        frames = []
        for frame in reader:
            frames.append(frame)
            if frame.frame == 2:
                keep.ports.add(50000)
        packets, warnings = reader.packets, list(reader.warnings)
    assert len(helper_on) == 1  # no second helper
    assert helper_on[0]._proc.poll() is not None
    assert frames == want.frames and packets == want.packets
    assert warnings == want.warnings and frames


def test_helper_started_at_open_but_unused_is_stopped(
    workdir: Path, helper_on: list[Any]
) -> None:
    path = workdir / "early-unused.pcap"
    path.write_bytes(make_pcap(12, count=50))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_capture(path, start_helper=True) as reader:
            (made,) = helper_on
            assert sum(1 for _ in reader) == 50  # read per record: no keep_batch
        assert made._proc.poll() is not None and made._map.closed
        del reader, made
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
