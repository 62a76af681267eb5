"""Streaming replay: same document as the collected path, state bounded by what is live."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ftptrace.model import CaptureInfo, Session
from ftptrace.render.json import to_document
from ftptrace.replay import analyze
from ftptrace.stream import stream_json
from ftptrace.trace import SWEEP_EVERY, TraceBuilder

from wire import Ftp, Wire, ep, write_pcap

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = [
    "captures/pasv-range-partly-forwarded/client.pcap",
    "captures/pasv-private-address/server.pcap",
    "captures/port-client-behind-nat/client.pcap",
    "captures/ftps-explicit/client.pcap",
    "captures/hairpin/client.pcap",
]


@pytest.mark.parametrize("capture", SAMPLES)
def test_streamed_document_equals_collected(
    capture: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    out = io.StringIO()
    errors = stream_json(Path(capture), out)
    streamed = json.loads(out.getvalue())
    collected = to_document(analyze([(None, Path(capture))]))
    assert streamed == collected
    assert errors == any(f["severity"] == "error" for f in collected["findings"])
    # One session per line: greppable, and written as soon as each session is over.
    lines = out.getvalue().splitlines()
    assert sum(1 for ln in lines if ln.startswith('  {"capture"')) == len(collected["sessions"])


def many_sessions(n: int, gap: float) -> Wire:
    w = Wire(hops={"198.51.100.2": 3})
    for i in range(n):
        ftp = Ftp(w, f"203.0.113.10:{20000 + i}", "198.51.100.2:21")
        ftp.login()
        ftp.cmd("PASV", "227 Entering Passive Mode (198,51,100,2,195,80).")
        d = w.connect(ep(f"203.0.113.10:{40000 + i}"), ep("198.51.100.2:50000"))
        ftp.cmd("LIST", "150 ok")
        w.b_says(d, b"x" * 10)
        w.close(d)
        ftp.reply("226 ok")
        ftp.quit()
        w.ts += gap
    return w


def test_finished_sessions_leave_the_builder() -> None:
    w = many_sessions(400, gap=1.0)
    emitted: list[Session] = []
    b = TraceBuilder(CaptureInfo(path="x"), on_session=emitted.append)
    peak = 0
    for i, p in enumerate(w.packets):
        b.feed(p)
        if i % 1000 == 0:
            b._sweep()  # what feed() does every SWEEP_EVERY packets, more often for the test
            peak = max(peak, len(b._sessions), len(b._conns) // 2)
    assert SWEEP_EVERY > 1000
    # 400 sessions went by, ~1 s apart, closing after a 2 s grace: a handful stay live.
    assert peak < 40
    assert len(emitted) > 350
    trace = b.finish()
    assert trace.sessions == ()
    assert len(emitted) == 400
    assert all(s.data_channels[0].bytes == 10 for s in emitted)


def test_stream_of_a_written_capture(tmp_path: Path) -> None:
    w = many_sessions(30, gap=20.0)
    cap = tmp_path / "many.pcap"
    write_pcap(w.packets, str(cap))
    out = io.StringIO()
    assert stream_json(cap, out) is False
    doc = json.loads(out.getvalue())
    assert len(doc["sessions"]) == 30
    assert doc["captures"][0]["packets"] == len(w.packets)
    assert doc["findings"] == []


def failed_sessions(n: int, gap: float) -> Wire:
    """Sessions whose passive data SYNs are swallowed on the way: 425, then QUIT."""
    w = Wire(hops={"198.51.100.2": 3})
    for i in range(n):
        ftp = Ftp(w, f"203.0.113.10:{20000 + i}", "198.51.100.2:21")
        ftp.login()
        ftp.cmd("PASV", "227 Entering Passive Mode (198,51,100,2,195,80).")
        w.syn(ep(f"203.0.113.10:{40000 + i}"), ep("198.51.100.2:50000"), count=3)
        ftp.cmd("LIST", "425 Failed to establish connection.")
        ftp.quit()
        w.ts += gap
    return w


def test_unanswered_data_attempts_do_not_hold_closed_sessions() -> None:
    """Before: a session whose data SYNs were never answered stayed in memory for the idle
    time (600 s) after its QUIT, so a busy capture's state grew with its length."""
    w = failed_sessions(300, gap=1.0)
    emitted: list[Session] = []
    b = TraceBuilder(CaptureInfo(path="x"), on_session=emitted.append)
    peak = 0
    for i, p in enumerate(w.packets):
        b.feed(p)
        if i % 500 == 0:
            b._sweep()
            peak = max(peak, len(b._sessions), len(b._conns) // 2, len(b.by_wire_key) // 2)
    assert peak < 40  # ~1 s apart, over 2 s after their FIN: a handful stay live
    assert len(emitted) > 250
    b.finish()
    assert len(emitted) == 300
    # Handed over complete: the data channel kept its three unanswered SYNs.
    channels = [s.data_channels[0] for s in emitted]
    assert {ch.outcome.value for ch in channels} == {"unanswered"}
    assert all(ch.connection is not None and ch.connection.syn_count == 3 for ch in channels)
