"""Cross-check: Wireshark's FTP dissector and ftptrace agree on every shipped capture.

Two independent parsers reading the same bytes must see the same command lines and the
same announced data endpoints; a disagreement is a bug in one of them (or a quirk worth a
capture of its own).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ftptrace.net.tshark import tshark_ftp_view
from ftptrace.replay import analyze

ROOT = Path(__file__).resolve().parent.parent
# One vantage per scenario: tshark costs about a second and a half per file.
CAPTURES = sorted((ROOT / "captures").rglob("client.pcap"))


@pytest.fixture(scope="module", autouse=True)
def need_tshark() -> None:
    if shutil.which("tshark") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("tshark is missing (CI=true: the cross-check may not skip)")
        pytest.skip("tshark not installed")


def ours(path: Path) -> tuple[list[tuple[str, str | None]], set[tuple[str, str | None, int]]]:
    trace = analyze([(None, path)]).trace
    commands: list[tuple[str, str | None]] = []
    announced: set[tuple[str, str | None, int]] = set()
    for s in trace.sessions:
        if s.control.resp.port != 21:
            continue  # tshark dissects FTP on port 21 only
        commands += [(c.verb, c.arg) for c in s.commands]
        for ch in s.data_channels:
            if ch.matched_by != "hosts":
                announced.add((ch.via, ch.announced_ip, ch.announced_port))
    return commands, announced


def theirs(path: Path) -> tuple[list[tuple[str, str | None]], set[tuple[str, str | None, int]]]:
    commands: list[tuple[str, str | None]] = []
    announced: set[tuple[str, str | None, int]] = set()
    last: list[str] = []
    encrypted: set[frozenset[object]] = set()
    for rec in tshark_ftp_view(path):
        conn = frozenset((rec.src, rec.dst))
        if conn in encrypted:
            continue  # after AUTH, tshark dissects TLS records as FTP lines: not commands
        if any(v.upper() == "AUTH" for v in rec.commands):
            encrypted.add(conn)
        for i, verb in enumerate(rec.commands):
            arg = rec.args[i] if i < len(rec.args) and rec.args[i] != "" else None
            commands.append((verb.upper(), arg))
        if rec.commands:
            last = [v.upper() for v in rec.commands]
        if rec.passive is not None:
            via = "PASV"
            announced.add((via, rec.passive.ip, rec.passive.port))
        if rec.epsv_port is not None:
            announced.add(("EPSV", None, rec.epsv_port))
        if rec.active is not None and "PORT" in last:
            announced.add(("PORT", rec.active.ip, rec.active.port))
        if rec.eprt is not None:
            announced.add(("EPRT", rec.eprt.ip, rec.eprt.port))
    return commands, announced


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_tshark_and_ftptrace_agree(capture: Path) -> None:
    our_cmds, our_ann = ours(capture)
    their_cmds, their_ann = theirs(capture)
    assert our_cmds == their_cmds
    assert our_ann == their_ann


def test_there_is_something_to_compare() -> None:
    assert len(CAPTURES) >= 10
    assert sum(len(ours(c)[1]) for c in CAPTURES) >= 10
