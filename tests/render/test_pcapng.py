"""Annotated pcapng: a writer checked against the format (by struct, by ftptrace's reader and
by tshark), comments on the frames that matter, and never a password in a comment."""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from tests.render.conftest import load_fixture
from tests.wire import Ftp, Wire, ep, write_pcap

from ftptrace.net.pcap import open_capture
from ftptrace.render.json import to_document
from ftptrace.render.pcapng import (
    PcapngWriter,
    frame_comments,
    mask_credentials,
    write_annotated_pcapng,
)
from ftptrace.replay import analyze

SECRET = "s3cr3t-Passw0rd"


@pytest.fixture(scope="session")
def tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("tshark is missing (CI=true: may not skip)")
        pytest.skip("tshark is missing")
    return path


def tshark_comments(tshark: str, path: Path) -> dict[int, str]:
    """frame number -> comments, as Wireshark shows them (frame.comment in tshark 4.0)."""
    out = subprocess.run(
        [tshark, "-r", str(path), "-Y", "frame.comment", "-T", "fields", "-e", "frame.number",
         "-e", "frame.comment"], capture_output=True, text=True, timeout=60, check=True).stdout
    return {int(n): c for n, _, c in (ln.partition("\t") for ln in out.splitlines())}


def test_writer_blocks_follow_the_format(tmp_path: Path) -> None:
    out = tmp_path / "w.pcapng"
    with out.open("wb") as f:
        w = PcapngWriter(f, application="test")
        i = w.interface(1)
        assert w.interface(1) == i and w.interface(101) == 1 and w.interface(1, key=3) == 2
        w.packet(i, 1700000000.123456, b"abcde", 60, ("hello",))
    data = out.read_bytes()
    btype, blen, bom, major, minor = struct.unpack_from("<IIIHH", data)
    assert (btype, bom, major, minor) == (0x0A0D0D0A, 0x1A2B3C4D, 1, 0)
    assert struct.unpack_from("<I", data, blen - 4)[0] == blen
    pos = blen
    kinds = []
    while pos < len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        assert blen % 4 == 0 and struct.unpack_from("<I", data, pos + blen - 4)[0] == blen
        kinds.append(btype)
        if btype == 6:
            iface, hi, lo, cap, orig = struct.unpack_from("<IIIII", data, pos + 8)
            assert (iface, (hi << 32) | lo, cap, orig) == (0, 1700000000123456, 5, 60)
            opt_code, opt_len = struct.unpack_from("<HH", data, pos + 28 + 8)
            assert (opt_code, opt_len) == (1, 5)
            assert data[pos + 40 : pos + 45] == b"hello"
        pos += blen
    assert kinds == [1, 1, 1, 6]


def test_round_trip_through_the_reader(tmp_path: Path) -> None:
    out = tmp_path / "r.pcapng"
    frames = [(1700000000.5, b"\x45" + bytes(39), 1), (1700000001.25, bytes(range(61)), 113)]
    with out.open("wb") as f:
        w = PcapngWriter(f)
        for ts, data, link in frames:
            w.packet(w.interface(link), ts, data, len(data) + 7, ("c",))
    with open_capture(out) as r:
        got = [(fr.ts, fr.data, fr.linktype, fr.orig_len) for fr in r]
        assert not r.warnings
    assert got == [(ts, d, link, len(d) + 7) for ts, d, link in frames]


@pytest.mark.parametrize(
    ("text", "masked"),
    [("PASS hunter2", "PASS ****"), ("pass  x y", "pass  **** y"), ("PASS ****", "PASS ****"),
     ("ACCT acc; ADAT Zm9v", "ACCT **** ADAT ****"), ("PASSIVE port", "PASSIVE port"),
     ("PASV reply", "PASV reply")],
)
def test_mask_credentials(text: str, masked: str) -> None:
    assert mask_credentials(text) == masked


def test_comments_for_the_frames_that_matter() -> None:
    c = frame_comments(load_fixture("pasv_range_not_forwarded"), Path("client.pcap"))
    assert c[9] == ["PASS ****"]
    assert c[31][0].startswith("PASV reply announces public 198.51.100.2:50003")
    assert c[32][0].startswith("data SYN for RETR test.jpg #2 — unanswered: SYN sent 4×")
    assert "passive port not forwarded" in c[32][0]
    assert c[40] == ["reply to RETR test.jpg: 425 Failed to establish connection."]
    private = frame_comments(load_fixture("pasv_private_address"), Path("client.pcap"))
    assert private[15][0].startswith("PASV reply announces private 192.168.1.2:50000")


def test_only_the_frames_of_that_capture() -> None:
    doc = load_fixture("multi_vantage_pasv")
    mine = frame_comments(doc, Path("captures/pasv-range-not-forwarded/client.pcap"))
    other = frame_comments(doc, Path("captures/pasv-range-not-forwarded/server-router-wan.pcap"))
    assert 32 in mine and 21 not in mine
    assert list(other) == [21] and other[21][0].startswith("DATA_SYN_UNANSWERED")


def _conversation(tmp_path: Path) -> Path:
    """A real FTP dialogue with a password, an unanswered passive SYN and a working one."""
    w = Wire()
    ftp = Ftp(w, "203.0.113.10:40000", "198.51.100.2:21")
    ftp.login("alice", SECRET)
    ftp.cmd("PASV", "227 Entering Passive Mode (192,168,1,2,195,80).")
    ftp.cmd("LIST")
    w.syn(ep("203.0.113.10:40001"), ep("192.168.1.2:50000"), count=3)
    ftp.reply("425 Failed to establish connection.")
    ftp.quit()
    path = tmp_path / "conv.pcap"
    write_pcap(w.packets, str(path))
    return path


def test_annotated_capture_end_to_end(tmp_path: Path, tshark: str) -> None:
    src = _conversation(tmp_path)
    doc = to_document(analyze([(None, src)]))
    out = tmp_path / "out.pcapng"
    n = write_annotated_pcapng(src, out, doc)
    comments = tshark_comments(tshark, out)
    assert n >= 4 and sum(c.count(",") + 1 for c in comments.values()) >= n - 1
    text = "\n".join(comments.values())
    assert SECRET not in text
    assert "PASS ****" in text
    assert "PASV reply announces private 192.168.1.2:50000" in text
    assert "data SYN for LIST #1 — unanswered" in text
    with open_capture(src) as a, open_capture(out) as b:
        pairs = list(zip(a, b, strict=True))
    # Frames are copied unchanged, except that credentials are overwritten (same length).
    for fa, fb in pairs:
        assert round(fa.ts, 6) == round(fb.ts, 6) and len(fa.data) == len(fb.data)
        if SECRET.encode() in fa.data:
            assert SECRET.encode() not in fb.data
        else:
            assert fa.data == fb.data


def test_password_never_in_any_comment_block(tmp_path: Path) -> None:
    src = _conversation(tmp_path)
    doc = to_document(analyze([(None, src)]))
    doc["sessions"][0]["commands"][1]["arg"] = SECRET  # even if a document leaked it
    doc["findings"].append({"code": "X", "severity": "info", "where": "unknown",
                            "summary": f"client sent PASS {SECRET}", "hint": "",
                            "evidence": [{"capture": str(src), "frame": 1}]})
    out = tmp_path / "out.pcapng"
    write_annotated_pcapng(src, out, doc)
    comments = [c for cs in frame_comments(doc, src).values() for c in cs]
    assert comments and not any(SECRET in c for c in comments)
    assert SECRET.encode() not in out.read_bytes(), "not even in the copied PASS frame"


def test_gzip_input(tmp_path: Path, tshark: str) -> None:
    src = _conversation(tmp_path)
    gz = tmp_path / "conv.pcap.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    doc = to_document(analyze([(None, gz)]))
    out = tmp_path / "gz.pcapng"
    assert write_annotated_pcapng(gz, out, doc) >= 4
    assert tshark_comments(tshark, out)
