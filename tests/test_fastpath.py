"""The replay's fast path (`fastpath.feed_batches`, `feed_frames`) builds the trace the
full path builds.

`replay.read_trace` without a collector routes plain ACKs of known connections straight to
`TraceBuilder.feed_plain` and only counts SYN/FIN/RST segments of unrelated connections
(`feed_unrelated`); with a collector it decodes every kept frame and feeds it. Both must
give the same `Trace`, and so must a read with no prefilter at all (every frame decoded
against the live port set), and a read whose records a helper process indexed.
"""

from __future__ import annotations

import io
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftptrace import trace as trace_module
from ftptrace.diagnose.rules import diagnose
from ftptrace.fastpath import feed_batches, feed_frames
from ftptrace.model import CaptureInfo, Trace
from ftptrace.net import indexer
from ftptrace.net import pcap as pcap_module
from ftptrace.net.decode import decode
from ftptrace.net.model import ACK, FIN, RST, SYN, Endpoint, Packet, Segment
from ftptrace.net.pcap import open_capture
from ftptrace.net.prefilter import LivePorts, PortPrefilter
from ftptrace.render.json import dumps
from ftptrace.replay import Analysis, document, read_trace
from ftptrace.trace import TraceBuilder
from shipped import CAPTURES

from wire import PSH, Ftp, Wire, ep, raw_ip

ROOT = Path(__file__).resolve().parent.parent
CLASSIC = [p for p in CAPTURES if p.suffix == ".pcap"]


def unfiltered_trace(path: Path) -> Trace:
    """The oldest path: no reader prefilter, every frame decoded against the live port set
    and fed to the builder (what `read_trace` did before the prefilter and the fast path)."""
    with open_capture(path) as reader:
        builder = TraceBuilder(CaptureInfo(path=str(path)), control_ports=frozenset({21}))
        ports = builder.ports
        for frame, ts, linktype, data, _orig, _iface in reader:
            pkt = decode(linktype, data, ts, frame, ports)
            if pkt is not None:
                builder.feed(pkt)
        trace = builder.finish(tuple(reader.warnings))
    return replace(trace, captures=(replace(trace.captures[0], packets=reader.packets),))


def fast(path: Path) -> Trace:
    return read_trace(path)


def fast_per_frame(path: Path) -> Trace:
    """The fast path frame by frame (`feed_frames`, what pcapng files take), for a classic
    pcap too: the reader offers no batches, so `read_trace` iterates its frames."""
    with mock.patch.object(pcap_module.CaptureReader, "batches", lambda _self: None):
        return read_trace(path)


def full(path: Path) -> Trace:
    return read_trace(path, collector=lambda _pkt: None)


def text(trace: Trace) -> str:
    return dumps(document(Analysis(trace=trace, findings=diagnose(trace))))


def assert_same(got: Trace, want: Trace) -> None:
    assert text(got) == text(want)  # a readable diff first
    assert got == want


@pytest.fixture
def shortcuts(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts the segments the fast path took past `decode`, by shortcut."""
    taken: Counter[str] = Counter()
    for name in ("feed_plain", "feed_flagged", "feed_unrelated"):
        method = getattr(TraceBuilder, name)

        def spy(self: TraceBuilder, *args: Any, _m: Any = method, _n: str = name) -> bool:
            done: bool = _m(self, *args)
            taken[_n] += done
            return done

        monkeypatch.setattr(TraceBuilder, name, spy)
    return taken


# -- shipped captures ------------------------------------------------------------------------


def test_captures_are_shipped() -> None:
    assert len(CLASSIC) >= 10 and len(CAPTURES) > len(CLASSIC)


@pytest.mark.parametrize("capture", CAPTURES, ids=str)
def test_shipped_capture_fast_path_equals_full_path(
    capture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    got = fast(capture)
    assert_same(got, full(capture))
    assert_same(got, unfiltered_trace(capture))
    assert_same(got, fast_per_frame(capture))
    assert_same(fast_loose(capture, batched=False), got)
    if capture.suffix == ".pcap":
        assert_same(fast_loose(capture, batched=True), got)


def test_classic_pcap_is_fed_a_buffer_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """`read_trace` takes `feed_batches` for classic pcap (gzip too), `feed_frames` for
    pcapng: the equality tests above then cover both."""
    import ftptrace.replay as replay_module

    taken: list[str] = []
    for name in ("feed_batches", "feed_frames"):
        method = getattr(replay_module, name)

        def spy(*args: Any, _m: Any = method, _n: str = name) -> None:
            taken.append(_n)
            _m(*args)

        monkeypatch.setattr(replay_module, name, spy)
    monkeypatch.chdir(ROOT)
    for capture in CAPTURES:
        taken.clear()
        fast(capture)
        pcapng = ".pcapng" in capture.suffixes
        assert taken == ["feed_frames" if pcapng else "feed_batches"], capture


def test_fast_path_is_taken_on_shipped_captures(
    monkeypatch: pytest.MonkeyPatch, shortcuts: Counter[str]
) -> None:
    monkeypatch.chdir(ROOT)
    for capture in CAPTURES:
        fast(capture)
    assert shortcuts["feed_plain"] > 1000 and shortcuts["feed_flagged"] > 200


class InProcessHelper:
    """`subprocess.Popen` of the indexing helper, run to its end in this process.

    `IndexedPcap` then reads the helper's real output (`indexer._index`) from a buffer:
    the parent side, the wire format and the helper's walk are all exercised, only the
    process boundary is not (the real process is, on a few captures, below).
    """

    def __init__(self, args: list[str], **_kwargs: Any) -> None:
        assert args[1:3] == ["-m", "ftptrace.net.indexer"]
        path, order, linktype, size, units = args[3:]
        out = io.BytesIO()
        indexer._index(path, order, int(linktype), int(size), out, int(units))
        out.seek(0)
        self.stdout: io.BytesIO | None = out
        self.returncode = 0

    def poll(self) -> int:
        return self.returncode

    def kill(self) -> None:  # pragma: no cover - the helper has already ended
        pass

    def wait(self, timeout: float | None = None) -> int:
        return self.returncode


def in_process(path: Path, read: Any) -> Trace:
    """`read(path)` with the in-process batched reader, whatever the fixtures forced."""
    with mock.patch.object(pcap_module, "HELPER_MIN_BYTES", 1 << 62):
        trace: Trace = read(path)
        return trace


@pytest.mark.parametrize("capture", CLASSIC, ids=str)
def test_shipped_capture_indexed_in_process_helper(
    capture: Path, monkeypatch: pytest.MonkeyPatch, helper_on: list[Any]
) -> None:
    monkeypatch.chdir(ROOT)
    want = in_process(capture, full)
    assert helper_on == []
    monkeypatch.setattr("ftptrace.net.indexer.subprocess.Popen", InProcessHelper)
    assert_same(fast(capture), want)
    assert_same(full(capture), want)
    assert len(helper_on) == 2


@pytest.mark.parametrize(
    "capture",
    sorted(CLASSIC, key=lambda p: (ROOT / p).stat().st_size)[-3:] + CLASSIC[:1],
    ids=str,
)
def test_shipped_capture_indexed_by_helper_process(
    capture: Path, monkeypatch: pytest.MonkeyPatch, helper_on: list[Any]
) -> None:
    monkeypatch.chdir(ROOT)
    want = in_process(capture, fast)
    assert helper_on == []
    got = fast(capture)
    (made,) = helper_on
    assert made._proc.args[1:3] == ["-m", "ftptrace.net.indexer"]  # a real process
    assert made._proc.poll() is not None  # ended (or stopped) with the read
    assert_same(got, want)


def test_all_shipped_records_in_one_file_by_helper_process(
    tmp_path: Path, helper_on: list[Any]
) -> None:
    """Every record of every shipped classic pcap, one file after the other (the trace is
    nonsense, but both readers must make the same nonsense), indexed by a real helper."""
    parts: list[bytes] = []
    for capture in CLASSIC:
        raw = (ROOT / capture).read_bytes()
        assert raw[:4] == b"\xd4\xc3\xb2\xa1" and raw[20:24] == b"\x01\x00\x00\x00"
        parts.append(raw[24:] if parts else raw)
    path = tmp_path / "all.pcap"
    path.write_bytes(b"".join(parts))
    want = in_process(path, fast)
    assert_same(in_process(path, full), want)
    assert helper_on == []
    assert_same(fast(path), want)
    assert len(helper_on) == 1
    assert len(want.sessions) > 50


# -- conversations with noise, written as Ethernet frames -----------------------------------

CLIENT, SERVER, OTHER = "203.0.113.10", "198.51.100.2", "192.0.2.7"
MAC = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02"
TRANSFORMS = ("", "options", "options-ports", "cut", "vlan", "pad", "tso", "frag-first",
              "frag-later", "bad-doff")


def ethernet(pkt: Packet, how: str) -> tuple[bytes, int]:
    """The packet as an Ethernet frame, changed as `how` says; (captured bytes, wire length).

    options: an IPv4 header of 24 bytes (IHL 6); options-ports: the same, its option bytes
    those of the TCP ports (a parser that ignores IHL would find the connection); cut:
    captured short of the payload's end (snap length); vlan: an 802.1Q tag; pad: Ethernet
    padding after the IP packet; tso: an IPv4 total length of 0 (what offloaded captures
    show); frag-first: more fragments follow (a TCP header is there); frag-later: a later
    fragment (its bytes are no TCP header); bad-doff: a TCP data offset of 16 bytes (the
    segment is malformed and dropped).
    """
    ip = raw_ip(pkt)
    v4 = ip[0] >> 4 == 4
    if how in ("options", "options-ports") and v4:
        options = b"\x01\x01\x01\x00" if how == "options" else ip[20:24]  # NOP NOP NOP EOL
        ip = bytes([0x46, ip[1]]) + struct.pack("!H", len(ip) + 4) + ip[4:20] + options + ip[20:]
    elif how == "bad-doff" and v4 and ip[9] == 6:
        ip = ip[:32] + bytes([0x40 | ip[32] & 15]) + ip[33:]
    elif how in ("frag-first", "frag-later") and v4:
        ip = ip[:6] + (b"\x20\x00" if how == "frag-first" else b"\x20\xb9") + ip[8:]
    elif how == "tso" and v4:
        ip = ip[:2] + b"\x00\x00" + ip[4:]
    elif how == "pad":
        ip += b"\x00" * 12
    ethertype = b"\x08\x00" if v4 else b"\x86\xdd"
    tag = b"\x81\x00\x00\x07" if how == "vlan" else b""
    data = MAC + tag + ethertype + ip
    wire_len = len(data)
    if how == "cut":
        payload = len(pkt.payload) if isinstance(pkt, Segment) else 0
        data = data[: len(data) - max(1, payload // 2)]
    return data, wire_len


def write_ethernet_pcap(path: Path, frames: list[tuple[Packet, str]]) -> None:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for pkt, how in frames:
        data, wire_len = ethernet(pkt, how)
        sec = int(pkt.ts)
        out.append(struct.pack("<IIII", sec, round((pkt.ts - sec) * 1e6), len(data), wire_len))
        out.append(data)
    path.write_bytes(b"".join(out))


def shift_sequence(packets: list[Packet], isn: int) -> list[Packet]:
    """Sequence numbers moved to a per-sender initial value derived from `isn`, so they are
    large and may wrap around 2**32 mid-stream (the wire's own start at 1000 and 5000)."""
    out: list[Packet] = []
    mod = 1 << 32

    def base(e: Endpoint) -> int:
        return (isn * (e.port + 1) + sum(map(int, e.ip.split(".")))) % mod if isn else 0

    for p in packets:
        if isinstance(p, Segment):
            p = p._replace(seq=(p.seq + base(p.src)) % mod,
                           ack=(p.ack + base(p.dst)) % mod if p.flags & ACK else p.ack)
        out.append(p)
    return out


def ftp_conversation(isn: int = 0xFFFFF000) -> list[Packet]:
    """Login, a passive RETR, an active LIST, an EPSV STOR that fails, QUIT; then an FTPS
    session and its data connection. `isn`: see `shift_sequence`."""
    w = Wire(hops={CLIENT: 0, SERVER: 4})
    ftp = Ftp(w, f"{CLIENT}:40000", f"{SERVER}:21")
    ftp.login()
    ftp.cmd("TYPE I", "200 Switching to Binary mode.")
    ftp.cmd("PASV", "227 Entering Passive Mode (198,51,100,2,195,80).")
    data = w.connect(ep(f"{CLIENT}:40001"), ep(f"{SERVER}:50000"))
    ftp.cmd("RETR file.bin", "150 Opening BINARY mode data connection.")
    for i in range(6):
        w.b_says(data, bytes([i]) * 700)
        w.seg(data.a, data.b, ACK, data.seq_a, data.seq_b)
    w.close(data)
    ftp.reply("226 Transfer complete.")
    ftp.cmd("PORT 203,0,113,10,156,66", "200 PORT command successful.")
    act = w.connect(ep(f"{SERVER}:20"), ep(f"{CLIENT}:40002"))
    ftp.cmd("LIST", "150 Here comes the directory listing.")
    w.a_says(act, b"-rw-r--r-- 1 0 0 10 file.bin\r\n")
    w.close(act)
    ftp.reply("226 Directory send OK.")
    ftp.cmd("EPSV", "229 Entering Extended Passive Mode (|||50001|)")
    ftp.cmd("STOR up.bin", "425 Failed to establish connection.")
    ftp.cmd("SYST", "215-UNIX", "215 Type: L8")
    ftp.quit()
    # An explicit FTPS session: after 234 the control channel is opaque, and a SYN
    # between the same hosts on any port may be its data connection.
    tls = Ftp(w, f"{CLIENT}:40010", f"{SERVER}:21")
    tls.cmd("AUTH TLS", "234 Proceed with negotiation.")
    w.a_says(tls.f, b"\x16\x03\x01\x00\x05hello")
    w.b_says(tls.f, b"\x16\x03\x03\x00\x05world")
    tdata = w.connect(ep(f"{CLIENT}:40011"), ep(f"{SERVER}:60000"))
    w.b_says(tdata, b"\x17\x03\x03" + b"\x00" * 300)
    w.close(tdata)
    w.close(tls.f)
    return shift_sequence(w.packets, isn)


NOISE = ("bulk", "syn", "fin", "rst", "rst-from-expected", "syn-to-expected", "syn-to-21",
         "fin-to-21", "midstream-21", "greeting", "greeting-fin", "icmp", "jump")


def noise(kind: str, w: Wire, port: int) -> None:
    """One unrelated packet (or a marker: jump), written on `w`."""
    other, client = Endpoint(OTHER, 443), Endpoint(CLIENT, 30000 + port)
    if kind == "bulk":
        w.seg(other, client, PSH | ACK, port * 1000, 5, bytes([port & 0xFF]) * 50)
    elif kind == "syn":
        w.seg(client, other, SYN, port)
    elif kind == "fin":
        w.seg(other, client, FIN | ACK, port, 9)
    elif kind == "rst":
        w.seg(client, other, RST | ACK, port, 9)
    elif kind == "rst-from-expected":
        w.seg(Endpoint(SERVER, 50001), client, RST | ACK, 0, port)
    elif kind == "syn-to-expected":
        w.seg(Endpoint(OTHER, 20000 + port), Endpoint(SERVER, 50001), SYN, port)
    elif kind == "syn-to-21":
        w.seg(Endpoint("192.0.2.99", 20000 + port), Endpoint(SERVER, 21), SYN, port)
    elif kind == "fin-to-21":
        w.seg(Endpoint(SERVER, 21), Endpoint("192.0.2.97", 20000 + port), FIN | ACK, port, 1)
    elif kind == "midstream-21":
        w.seg(Endpoint("192.0.2.98", 20000 + port), Endpoint(SERVER, 21), PSH | ACK, 7, 8,
              b"NOOP\r\n")
    elif kind == "greeting":
        w.seg(Endpoint(OTHER, 2222), client, PSH | ACK, 100, 200, b"220 other ftp\r\n")
    elif kind == "greeting-fin":
        w.seg(Endpoint(OTHER, 2223), client, FIN | PSH | ACK, 100, 200, b"220 and bye\r\n")
    elif kind == "icmp":
        w.icmp("198.51.100.1", Endpoint(CLIENT, 40001), Endpoint(SERVER, 50000))
    else:
        assert kind == "jump"


def interleave(
    main: list[Packet], extra: list[tuple[str, int]], where: list[int], hows: Iterator[str]
) -> list[tuple[Packet, str]]:
    """`extra` noise put among `main` (noise i before main packet where[i]), with
    timestamps made increasing again; "jump" noise moves the clock on by 700 s
    (longer than a session stays idle) instead of adding a packet."""
    w = Wire()
    slots: dict[int, list[tuple[str, int]]] = {}
    for (kind, port), at in zip(extra, where, strict=True):
        slots.setdefault(min(at, len(main)), []).append((kind, port))
    ordered: list[Packet | str] = []
    for i in range(len(main) + 1):
        for kind, port in slots.get(i, []):
            if kind == "jump":
                ordered.append("jump")
                continue
            before = len(w.packets)
            noise(kind, w, port)
            ordered.extend(w.packets[before:])
        if i < len(main):
            ordered.append(main[i])
    out: list[tuple[Packet, str]] = []
    ts = 1_700_000_000.0
    for item in ordered:
        if isinstance(item, str):
            ts += 700.0
            continue
        ts += 0.01
        out.append((item._replace(ts=ts), next(hows)))
    return out


def fast_loose(path: Path, batched: bool) -> Trace:
    """The fast path fed more than the prefilter would keep: every frame (`feed_frames`), or
    every row a prefilter over all ports keeps (`feed_batches`). It must then drop what
    `decode` drops, and do what `feed` does with the rest."""
    with open_capture(path) as reader:
        builder = TraceBuilder(CaptureInfo(path=str(path)), control_ports=frozenset({21}))
        if batched:
            loose = PortPrefilter(LivePorts(range(65536)))
            reader.keep, reader.keep_batch = loose, loose
            batches = reader.batches()
            assert batches is not None
            feed_batches(batches, builder, builder.ports)
        else:
            feed_frames(reader, builder, builder.ports)
        trace = builder.finish(tuple(reader.warnings))
    return replace(trace, captures=(replace(trace.captures[0], packets=reader.packets),))


def check_paths_agree(path: Path) -> Trace:
    got = fast(path)
    assert_same(got, full(path))
    assert_same(got, unfiltered_trace(path))
    assert_same(got, fast_per_frame(path))
    for batched in (True, False):
        assert_same(fast_loose(path, batched), got)
    return got


def test_conversation_with_noise_and_odd_frames(
    tmp_path: Path, shortcuts: Counter[str]
) -> None:
    """Hand-built: every noise kind, and the frames the fast path must leave to decode()."""
    main = ftp_conversation()
    kinds = [k for k in NOISE if k != "jump"]
    extra = [(kinds[i % len(kinds)], i) for i in range(3 * len(kinds))]
    where = [(7 * i) % len(main) for i in range(len(extra))]
    hows = iter(TRANSFORMS[i % len(TRANSFORMS)] if i % 3 == 0 else "" for i in range(10**6))
    path = tmp_path / "noisy.pcap"
    write_ethernet_pcap(path, interleave(main, extra, where, hows))
    got = check_paths_agree(path)
    assert shortcuts["feed_plain"] > 20 and shortcuts["feed_unrelated"] > 5
    (s,) = [s for s in got.sessions if s.control.orig == Endpoint(CLIENT, 40000)]
    assert [c.verb for c in s.commands][:3] == ["USER", "PASS", "TYPE"]
    assert len(got.sessions) >= 3  # the greeting on port 2222 and a mid-stream session too


def test_snaplen_cut_and_ip_options_on_the_control_connection(tmp_path: Path) -> None:
    """The 227 reply arrives with IP options (fast path must decode it) and a reply cut by
    the snap length; plain ACKs around them take the shortcut."""
    main = ftp_conversation()
    hows = []
    for p in main:
        payload = p.payload if isinstance(p, Segment) else b""
        if payload.startswith(b"227"):
            hows.append("options")
        elif payload.startswith(b"150 Opening"):
            hows.append("cut")
        elif payload.startswith(b"215-"):
            hows.append("tso")
        else:
            hows.append("")
    path = tmp_path / "odd.pcap"
    write_ethernet_pcap(path, list(zip(main, hows, strict=True)))
    got = check_paths_agree(path)
    (s,) = [s for s in got.sessions if s.control.orig == Endpoint(CLIENT, 40000)]
    assert [ch.announced_port for ch in s.data_channels][:1] == [50000]
    conns = [ch.connection for ch in s.data_channels if ch.connection is not None]
    assert 4200 in [c.bytes_resp for c in conns]


_kinds = st.sampled_from(NOISE)


@given(
    extra=st.lists(st.tuples(_kinds, st.integers(0, 40)), max_size=25),
    where=st.lists(st.integers(0, 200), min_size=25, max_size=25),
    hows=st.lists(st.sampled_from(TRANSFORMS), min_size=1, max_size=30),
    dup=st.sets(st.integers(0, 120), max_size=6),
    sweep_every=st.sampled_from([2, 3, 7, 40, trace_module.SWEEP_EVERY]),
    isn=st.integers(0, 2**32 - 1),
)
@settings(max_examples=100, deadline=None, derandomize=True)
def test_interleaved_noise_fast_equals_full(
    tmp_path_factory: pytest.TempPathFactory,
    extra: list[tuple[str, int]],
    where: list[int],
    hows: list[str],
    dup: set[int],
    sweep_every: int,
    isn: int,
) -> None:
    main = ftp_conversation(isn)
    main = [q for i, p in enumerate(main) for q in ((p, p) if i in dup else (p,))]  # retransmits
    cycle = (hows[i % len(hows)] for i in range(10**6))
    frames = interleave(main, extra, where[: len(extra)], cycle)
    path = tmp_path_factory.mktemp("noise") / "noise.pcap"
    write_ethernet_pcap(path, frames)
    with mock.patch.object(trace_module, "SWEEP_EVERY", sweep_every):
        check_paths_agree(path)


# -- a known divergence -----------------------------------------------------------------------


def self_connection_pcap(path: Path) -> None:
    """A TCP connection whose two ends are the same endpoint (a LAND packet, or a TCP
    simultaneous-open self-connect on loopback): 10.0.0.1:21 -> 10.0.0.1:21."""
    a = Endpoint("10.0.0.1", 21)
    pkts: list[Packet] = [
        Segment(1.0, 1, a, a, SYN, 100, 0, b"", 64, 1),
        Segment(2.0, 2, a, a, ACK, 101, 101, b"220 hi\r\n", 60, 2),
        Segment(3.0, 3, a, a, ACK, 109, 109, b"USER x\r\n", 50, 3),
    ]
    write_ethernet_pcap(path, [(p, "") for p in pkts])


def test_self_connection_fast_equals_full(tmp_path: Path) -> None:
    path = tmp_path / "self.pcap"
    self_connection_pcap(path)
    check_paths_agree(path)
