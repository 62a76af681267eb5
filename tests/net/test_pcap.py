"""The streaming capture reader: every container variant, damaged files, gzip, memory."""

from __future__ import annotations

import gzip
import struct
import tracemalloc
from pathlib import Path

import pytest

from ftptrace.errors import CaptureError
from ftptrace.net.pcap import RawFrame, open_capture

from .pcapgen import (
    Frame,
    block,
    epb,
    idb,
    pb,
    pcap_bytes,
    pcapng_bytes,
    sample_frames,
    shb,
    spb,
    ticks,
)


def read_all(path: Path) -> tuple[list[RawFrame], list[str]]:
    with open_capture(path) as reader:
        frames = list(reader)
        return frames, reader.warnings


def expected(frames: list[Frame]) -> list[tuple[int, float, int, bytes, int]]:
    return [
        (i, f.ns / 1_000_000_000, f.linktype, f.data, f.wire_len)
        for i, f in enumerate(frames, 1)
    ]


def key(frames: list[RawFrame]) -> list[tuple[int, float, int, bytes, int]]:
    return [(f.frame, f.ts, f.linktype, f.data, f.orig_len) for f in frames]


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_classic_pcap_both_orders_and_resolutions(tmp_path: Path, order: str, nano: bool) -> None:
    frames = sample_frames()
    path = tmp_path / "x.pcap"
    path.write_bytes(pcap_bytes(frames, order=order, nano=nano))
    with open_capture(path) as reader:
        got = list(reader)
        assert reader.format == "pcap"
        assert reader.packets == len(frames)
        assert reader.warnings == []
    assert key(got) == expected(frames)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("tsresol", [None, 6, 9, 3])
def test_pcapng_power_of_ten_resolutions(tmp_path: Path, order: str, tsresol: int | None) -> None:
    frames = sample_frames()
    path = tmp_path / "x.pcapng"
    path.write_bytes(pcapng_bytes(frames, order=order, tsresol=tsresol))
    with open_capture(path) as reader:
        got = list(reader)
        assert reader.format == "pcapng"
        assert reader.warnings == []
    if tsresol == 3:  # milliseconds lose the microseconds, by design of the file
        assert [g.ts for g in got] == [(f.ns // 1_000_000) / 1000 for f in frames]
    else:
        assert key(got) == expected(frames)


def test_pcapng_power_of_two_resolution_and_offset(tmp_path: Path) -> None:
    o = "<"
    data = sample_frames()[0].data
    raw = shb(o) + idb(o, 1, tsresol=0x80 | 20, tsoffset=100) + epb(o, 0, 3 << 19, data, 60)
    path = tmp_path / "x.pcapng"
    path.write_bytes(raw)
    (frame,), warnings = read_all(path)
    assert frame.ts == 101.5
    assert warnings == []


def test_pcapng_sections_interfaces_and_block_kinds(tmp_path: Path) -> None:
    """Two sections of opposite byte order; a new section forgets the old interfaces."""
    f = sample_frames()
    raw = (
        shb("<")
        + idb("<", 1)
        + idb("<", 101)
        + epb("<", 0, ticks(f[0].ns, None), f[0].data, len(f[0].data), comment=b"hello")
        + epb("<", 1, ticks(f[1].ns, None), f[1].data[14:], len(f[1].data) - 14)
        + pb("<", 0, ticks(f[2].ns, None), f[2].data, len(f[2].data))
        + spb("<", f[3].data, len(f[3].data))
        + block("<", 0x40000BAD, b"custom block, copyable")
        + shb(">")
        + idb(">", 113, tsresol=9)
        + epb(">", 0, f[4].ns, b"\x00" * 16, 100)
    )
    path = tmp_path / "x.pcapng"
    path.write_bytes(raw)
    got, warnings = read_all(path)
    assert warnings == []
    assert [(g.frame, g.linktype, g.iface) for g in got] == [
        (1, 1, 0), (2, 101, 1), (3, 1, 0), (4, 1, 0), (5, 113, 0)
    ]
    assert got[1].data == f[1].data[14:]
    assert got[3].ts == got[2].ts  # simple packet blocks carry no time: the last one is kept
    assert got[4].ts == f[4].ns / 1e9
    assert got[4].orig_len == 100 and len(got[4].data) == 16


def test_simple_packet_block_is_cut_by_its_block(tmp_path: Path) -> None:
    o = "<"
    path = tmp_path / "x.pcapng"
    path.write_bytes(shb(o) + idb(o, 1) + spb(o, b"\x01" * 20, 1500))
    (frame,), _ = read_all(path)
    assert frame.orig_len == 1500 and frame.data == b"\x01" * 20


def test_packet_for_undeclared_interface_is_skipped_with_warning(tmp_path: Path) -> None:
    o = "<"
    path = tmp_path / "x.pcapng"
    path.write_bytes(shb(o) + idb(o, 1) + epb(o, 3, 0, b"x", 1) + epb(o, 0, 0, b"y", 1))
    got, warnings = read_all(path)
    assert [g.data for g in got] == [b"y"]
    assert len(warnings) == 1 and "interface 3" in warnings[0]


def test_snaplen_cut_frames(tmp_path: Path) -> None:
    f = Frame(ns=1_000_000_000, data=b"\x00" * 54, orig_len=1514)
    path = tmp_path / "x.pcap"
    path.write_bytes(pcap_bytes([f]))
    (frame,), _ = read_all(path)
    assert frame.orig_len == 1514 and len(frame.data) == 54


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_gzip_compressed(tmp_path: Path, fmt: str) -> None:
    frames = sample_frames()
    raw = pcap_bytes(frames) if fmt == "pcap" else pcapng_bytes(frames)
    path = tmp_path / f"x.{fmt}.gz"
    path.write_bytes(gzip.compress(raw))
    with open_capture(path) as reader:
        got = list(reader)
        assert reader.format == fmt
        assert reader.warnings == []
    assert key(got) == expected(frames)


def test_gzip_with_several_members(tmp_path: Path) -> None:
    raw = pcap_bytes(sample_frames())
    path = tmp_path / "x.pcap.gz"
    path.write_bytes(gzip.compress(raw[:100]) + gzip.compress(raw[100:]))
    got, warnings = read_all(path)
    assert len(got) == len(sample_frames()) and warnings == []


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pcap"
    path.write_bytes(b"")
    with pytest.raises(CaptureError, match=r"empty\.pcap.*empty"):
        open_capture(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match=r"nope\.pcap"):
        open_capture(tmp_path / "nope.pcap")


@pytest.mark.parametrize("content", [b"GET / HTTP/1.1\r\n\r\n", b"\x00" * 64, b"PK\x03\x04"])
def test_wrong_magic(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(CaptureError, match=r"notes\.txt.*not a pcap or pcapng"):
        open_capture(path)


def test_gzip_of_something_else(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"hello world, not a capture"))
    with pytest.raises(CaptureError, match=r"x\.gz \(gzip\).*magic"):
        open_capture(path)


def test_truncated_global_header(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(pcap_bytes([])[:20])
    with pytest.raises(CaptureError, match="truncated pcap global header"):
        open_capture(path)


def _check_every_cut(tmp_path: Path, raw: bytes, n_frames: int, compress: bool) -> None:
    """Cut the file at every offset: CaptureError at open or a prefix of frames + warning."""
    full = [f.data for f in read_all(_write(tmp_path, raw, compress))[0]]
    assert len(full) == n_frames
    boundaries = {len(raw)}
    for cut in range(len(raw)):
        path = _write(tmp_path, raw[:cut], compress)
        try:
            reader = open_capture(path)
        except CaptureError:
            continue
        with reader:
            got = [f.data for f in reader]
            warnings = reader.warnings
        assert got == full[: len(got)]
        if not warnings:
            boundaries.add(cut)
    # without a warning the cut must have fallen between records
    assert len(boundaries) <= n_frames + 8


def _write(tmp_path: Path, raw: bytes, compress: bool) -> Path:
    path = tmp_path / ("cut.gz" if compress else "cut")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_pcap_at_every_offset(tmp_path: Path, compress: bool) -> None:
    frames = sample_frames()[:4]
    _check_every_cut(tmp_path, pcap_bytes(frames), len(frames), compress)


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_pcapng_at_every_offset(tmp_path: Path, compress: bool) -> None:
    frames = sample_frames()[:4]
    _check_every_cut(tmp_path, pcapng_bytes(frames), len(frames), compress)


def test_truncated_gzip_stream_keeps_frames_and_warns(tmp_path: Path) -> None:
    frames = [Frame(ns=i * 1000, data=bytes([i % 256]) * 200) for i in range(2000)]
    packed = gzip.compress(pcap_bytes(frames))
    path = tmp_path / "x.pcap.gz"
    path.write_bytes(packed[: len(packed) // 2])
    got, warnings = read_all(path)
    assert 0 < len(got) < 2000
    assert any("truncated .gz" in w for w in warnings)


def test_nonsense_block_length_stops_with_warning(tmp_path: Path) -> None:
    o = "<"
    good = shb(o) + idb(o, 1) + epb(o, 0, 0, b"a", 1)
    bad = struct.pack(o + "II", 6, 13) + b"\x00" * 40
    path = tmp_path / "x.pcapng"
    path.write_bytes(good + bad + epb(o, 0, 0, b"b", 1))
    got, warnings = read_all(path)
    assert [g.data for g in got] == [b"a"]
    assert len(warnings) == 1 and "after frame 1" in warnings[0] and "13" in warnings[0]


def test_nonsense_record_length_stops_with_warning(tmp_path: Path) -> None:
    raw = pcap_bytes(sample_frames()[:2]) + struct.pack("<IIII", 0, 0, 0x7FFFFFFF, 0x7FFFFFFF)
    path = tmp_path / "x.pcap"
    path.write_bytes(raw + b"\x00" * 100)
    got, warnings = read_all(path)
    assert len(got) == 2 and "not plausible" in warnings[0]


def test_mismatched_trailing_block_length(tmp_path: Path) -> None:
    o = "<"
    broken = bytearray(epb(o, 0, 0, b"b", 1))
    broken[-4:] = struct.pack(o + "I", 99)
    path = tmp_path / "x.pcapng"
    path.write_bytes(shb(o) + idb(o, 1) + epb(o, 0, 0, b"a", 1) + bytes(broken))
    got, warnings = read_all(path)
    assert [g.data for g in got] == [b"a"] and "differ" in warnings[0]


def test_reader_streams_in_bounded_memory(tmp_path: Path) -> None:
    """Reading a file ~10x the chunk size must not hold it in memory."""
    frame = sample_frames()[5]
    n = 80_000  # ~8.5 MB
    path = tmp_path / "big.pcap"
    with path.open("wb") as fh:
        fh.write(pcap_bytes([]))
        rec = struct.pack("<IIII", 1, 0, len(frame.data), len(frame.data)) + frame.data
        for _ in range(n // 1000):
            fh.write(rec * 1000)
    tracemalloc.start()
    try:
        with open_capture(path) as reader:
            count = sum(1 for _ in reader)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n
    assert peak < 6 * 1024 * 1024


def test_scapy_written_files_read_the_same(tmp_path: Path) -> None:
    from scapy.layers.l2 import Ether
    from scapy.utils import PcapNgWriter, PcapWriter

    frames = sample_frames()
    pkts = []
    for f in frames:
        p = Ether(f.data)
        p.time = f.ns // 1000 / 1_000_000  # scapy keeps microseconds exactly here
        pkts.append(p)
    for name, writer in (("s.pcap", PcapWriter), ("s.pcapng", PcapNgWriter)):
        path = tmp_path / name
        w = writer(str(path))
        for p in pkts:
            w.write(p)
        w.close()
        got, warnings = read_all(path)
        assert warnings == []
        assert [g.data for g in got] == [f.data for f in frames]
        assert [g.linktype for g in got] == [1] * len(frames)
        assert [round(g.ts, 6) for g in got] == [round(f.ns / 1e9, 6) for f in frames]


def test_next_and_counters(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(pcap_bytes(sample_frames()))
    with open_capture(path) as reader:
        first = next(reader)
        assert first.frame == 1 and reader.packets == 1
        next(reader)
        assert reader.packets == 2
