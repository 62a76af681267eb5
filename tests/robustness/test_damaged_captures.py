"""Damaged and hostile capture files, end to end through the CLI.

The rule under test (brief, "bad input"): never a traceback; exit 2 only when nothing could
be read, with one `ftptrace: …` line saying why; otherwise 0/1 and a warning (the
CAPTURE_DAMAGED finding); time and memory bounded whatever a header claims.
"""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
import tracemalloc
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .captures import (
    PCAP_HEADER,
    idb,
    record_offsets,
    tiny_pcap,
    tiny_wire,
    to_pcapng,
)
from .helpers import assert_sane_exit, cli, json_doc, stderr_of

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p for p in (REPO / "captures").glob("*/*.pcap") if p.stat().st_size < 20_000)
FAST = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _replay_everywhere(path: Path, tmp: Path) -> None:
    """Every reader of a capture: terminal, streamed JSON, collected JSON + artifacts,
    and the SVG diagram; each must be sane, and agree on exit 2 (nothing readable)."""
    term = cli("replay", path)
    assert_sane_exit(term)
    streamed = cli("replay", "--json", path)
    assert_sane_exit(streamed)
    assert streamed.exit_code == term.exit_code
    if term.exit_code == 2:
        assert not streamed.stdout, "nothing readable: no half document on stdout"
        return
    json_doc(streamed)
    full = cli("replay", "--json", "--report", tmp / "r.html", "--annotate", tmp / "a.pcapng",
               path)
    assert_sane_exit(full)
    assert json_doc(full)["captures"]
    svg = cli("diagram", "-f", "svg", path)
    assert_sane_exit(svg)
    ET.fromstring(svg.stdout)


# --- mutations of the shipped captures ----------------------------------------------------


@FAST
@given(
    which=st.integers(0, max(0, len(SHIPPED) - 1)),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)),
                   min_size=1, max_size=12),
    cut=st.one_of(st.none(), st.floats(0, 1)),
    gz=st.booleans(),
)
def test_mutated_shipped_captures_never_crash(
    tmp_path_factory: pytest.TempPathFactory, which: int,
    flips: list[tuple[float, int]], cut: float | None, gz: bool,
) -> None:
    tmp = tmp_path_factory.mktemp("mut")
    data = bytearray(SHIPPED[which].read_bytes())
    for where, bit in flips:
        data[int(where * len(data))] ^= 1 << bit
    if cut is not None:
        del data[int(cut * len(data)):]
    blob = gzip.compress(bytes(data)) if gz else bytes(data)
    path = tmp / "m.pcap"
    path.write_bytes(blob)
    _replay_everywhere(path, tmp)


def test_truncated_at_every_offset(tmp_path: Path) -> None:
    """Cut a small capture at every byte: exit 2 inside the file header (nothing to read),
    otherwise 0/1 — with the CAPTURE_DAMAGED warning unless the cut fell between records."""
    data = tiny_pcap(tmp_path / "full.pcap").read_bytes()
    boundaries = {*record_offsets(data), len(data)}
    cut = tmp_path / "cut.pcap"
    for n in range(len(data)):
        cut.write_bytes(data[:n])
        r = cli("replay", "--json", cut)
        assert_sane_exit(r)
        if n < PCAP_HEADER:
            assert r.exit_code == 2 and not r.stdout, n
            assert "ftptrace: " in stderr_of(r)
            continue
        assert r.exit_code in (0, 1), n
        doc = json_doc(r)
        damaged = "CAPTURE_DAMAGED" in {f["code"] for f in doc["findings"]}
        assert damaged == (n not in boundaries), n
        assert doc["captures"][0]["warnings"] or n in boundaries


@pytest.mark.parametrize("claim", [0xFFFFFFFF, 0x80000000, (1 << 24) + 1, 0x7FFFFFF0])
def test_absurd_record_length_is_bounded(tmp_path: Path, claim: int) -> None:
    """A record that claims up to 4 GB: warned about, never allocated."""
    data = bytearray(tiny_pcap(tmp_path / "t.pcap").read_bytes())
    last = record_offsets(bytes(data))[-1]
    struct.pack_into("<II", data, last + 8, claim, claim)
    path = tmp_path / "huge.pcap"
    path.write_bytes(bytes(data))
    tracemalloc.start()
    try:
        r = cli("replay", "--json", path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_sane_exit(r)
    assert r.exit_code in (0, 1)
    doc = json_doc(r)
    assert "CAPTURE_DAMAGED" in {f["code"] for f in doc["findings"]}
    assert doc["captures"][0]["packets"] == len(record_offsets(bytes(data))) - 1
    assert peak < 64 << 20, f"peak {peak >> 20} MiB for a {claim}-byte claim"


# --- pcapng blocks with lying lengths -------------------------------------------------------

_LIES = [0, 4, 8, 12, 13, 16, 24, 28, 32, 1 << 24, 0xFFFFFFFC, "-4", "+4"]


def _lie(real: int, lie: int | str) -> int:
    return real + int(lie) if isinstance(lie, str) else lie


def _pcapng_cases() -> list[object]:
    blocks = to_pcapng(tiny_wire())
    cases: list[object] = []
    for i in range(len(blocks)):
        for lie in _LIES:
            for field in ("start", "end", "both"):
                cases.append(pytest.param(i, lie, field, id=f"b{i}-{field}-{lie}"))
    return cases


@pytest.mark.parametrize(("index", "lie", "field"), _pcapng_cases())
def test_pcapng_block_with_lying_length(tmp_path: Path, index: int, lie: int | str,
                                        field: str) -> None:
    """Every block's total length lied about at its start, its end, or both."""
    blocks = [bytearray(b) for b in to_pcapng(tiny_wire())]
    b = blocks[index]
    value = _lie(len(b), lie) & 0xFFFFFFFF
    if field in ("start", "both"):
        struct.pack_into("<I", b, 4, value)
    if field in ("end", "both"):
        struct.pack_into("<I", b, len(b) - 4, value)
    path = tmp_path / "lie.pcapng"
    path.write_bytes(b"".join(blocks))
    r = cli("replay", "--json", path)
    assert_sane_exit(r)
    if index == 0:
        return  # the section header itself: exit 2 or a warning, both are fine
    assert r.exit_code in (0, 1), r.output
    assert "CAPTURE_DAMAGED" in {f["code"] for f in json_doc(r)["findings"]}


@pytest.mark.parametrize("btype", [6, 2], ids=["epb", "pb"])
@pytest.mark.parametrize("blen", [12, 16, 20, 24])
def test_short_packet_block_at_end_of_file(tmp_path: Path, btype: int, blen: int) -> None:
    """A packet block whose (consistent) total length is under 28 bytes, last in the file:
    `net/pcap.py` unpacks its 20-byte header past the end of the buffer (struct.error).
    Fix in `CaptureReader._pcapng`: `if btype in (_BT_EPB, _BT_PB) and blen < 32:
    self._warn_tail("packet block too short", n); break` before unpacking (pcapng §4.3,
    Appendix A: 28 bytes of header plus the trailing length)."""
    blocks = to_pcapng(tiny_wire())
    body = b"\0" * (blen - 12)
    short = struct.pack("<II", btype, blen) + body + struct.pack("<I", blen)
    path = tmp_path / "short.pcapng"
    path.write_bytes(b"".join(blocks) + short)
    r = cli("replay", "--json", path)
    assert_sane_exit(r)
    assert "CAPTURE_DAMAGED" in {f["code"] for f in json_doc(r)["findings"]}


def test_pcapng_interface_option_cut_at_end_of_file(tmp_path: Path) -> None:
    """An interface block whose if_tsoffset option (code 14, 8 bytes, pcapng §4.2) is cut
    by the end of the file: `idb_options` unpacked 8 bytes from a 4-byte slice.
    Fixed in net/pcapng_blocks.py `idb_options`: it stops when `pos + 4 + length > end` (an option
    running past its block is corruption) before reading the value."""
    blocks = to_pcapng(tiny_wire())
    cut = idb(options=struct.pack("<HH", 14, 8))
    path = tmp_path / "idb.pcapng"
    path.write_bytes(blocks[0] + cut)
    assert_sane_exit(cli("replay", path))


def test_timestamps_out_of_range_are_written_clamped(tmp_path: Path) -> None:
    """An interface with if_tsresol 2^0 (1 tick per second) and a huge if_tsoffset makes
    timestamps the annotated-pcapng writer could not pack (render/pcapng.py: fixed)."""
    blocks = to_pcapng(tiny_wire())
    opts = (struct.pack("<HH", 9, 1) + b"\x80\0\0\0"
            + struct.pack("<HHq", 14, 8, 1 << 62) + struct.pack("<HH", 0, 0))
    path = tmp_path / "ts.pcapng"
    path.write_bytes(blocks[0] + idb(options=opts) + b"".join(blocks[2:]))
    r = cli("replay", "--annotate", tmp_path / "out.pcapng", path)
    assert_sane_exit(r)
    assert r.exit_code in (0, 1) and (tmp_path / "out.pcapng").stat().st_size > 0


# --- not a capture at all --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["empty", "directory", "gzip-garbage", "text", "devnull"])
def test_nothing_readable_is_exit_2_with_one_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "in.pcap"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    elif kind == "gzip-garbage":
        path.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4)
    elif kind == "text":
        path.write_text("220 this is not a capture\r\n" * 10)
    else:
        path = Path(os.devnull)
    for args in (["replay"], ["replay", "--json"], ["diagram"],
                 ["replay", "--report", str(tmp_path / "r.html")]):
        r = cli(*args, path)
        assert_sane_exit(r)
        assert r.exit_code == 2, (args, r.output)
        assert len(stderr_of(r).strip().splitlines()) == 1, r.output
    assert not (tmp_path / "r.html").exists()


def test_one_unreadable_input_among_good_ones_is_a_warning(tmp_path: Path) -> None:
    good = tiny_pcap(tmp_path / "good.pcap")
    (tmp_path / "dir.pcap").mkdir()
    r = cli("replay", f"client={good}", f"server={tmp_path / 'dir.pcap'}")
    assert_sane_exit(r)
    assert r.exit_code in (0, 1)
    assert "dir.pcap" in stderr_of(r)


def _run_with_timeout(args: list[str], seconds: float) -> subprocess.CompletedProcess[str]:
    code = "from ftptrace.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=seconds, check=False)


def test_fifo_without_writer_does_not_hang(tmp_path: Path) -> None:
    """`open(path, "rb")` on a FIFO blocks until a writer appears: forever.
    Fix in net/pcap.py `CaptureReader.__init__`: `os.open(path, O_RDONLY | O_NONBLOCK)`,
    `fstat` it, and refuse anything but a regular file (or, for a pipe, clear O_NONBLOCK
    and read it without the `seek(0)` that pipes do not support)."""
    fifo = tmp_path / "cap.pcap"
    os.mkfifo(fifo)
    try:
        r = _run_with_timeout(["replay", str(fifo)], 3.0)
    except subprocess.TimeoutExpired:
        pytest.fail("ftptrace replay FIFO still blocked after 3 s")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_from_json_fifo_without_writer_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "doc.json"
    os.mkfifo(fifo)
    r = _run_with_timeout(["diagram", "--from-json", str(fifo)], 10.0)
    assert r.returncode == 2 and r.stderr.startswith("ftptrace: ") and "Traceback" not in r.stderr


# --- outputs must never destroy inputs ----------------------------------------------------------


@pytest.mark.parametrize("flag", ["--annotate", "--report", "-o"])
def test_an_output_onto_an_input_is_refused(tmp_path: Path, flag: str) -> None:
    src = tiny_pcap(tmp_path / "evidence.pcap")
    before = src.read_bytes()
    same = tmp_path / "." / "evidence.pcap"
    args = ["diagram", "-f", "svg", flag, same, src] if flag == "-o" else [
        "replay", flag, same, f"client={src}"]
    r = cli(*args)
    assert_sane_exit(r)
    assert r.exit_code == 2 and "refusing to overwrite" in stderr_of(r)
    assert src.read_bytes() == before


def test_unwritable_annotate_path_is_one_line(tmp_path: Path) -> None:
    src = tiny_pcap(tmp_path / "c.pcap")
    for out in (tmp_path / "missing" / "a.pcapng", tmp_path):
        r = cli("replay", "--annotate", out, src)
        assert_sane_exit(r)
        assert r.exit_code == 2 and stderr_of(r).startswith("ftptrace: cannot write"), r.output
