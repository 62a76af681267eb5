"""Live sniffing (lab: root, loopback and a private namespace) and the tshark adapter."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, TCP, IPerror, TCPerror
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from ftptrace.errors import PrivilegeError, UsageError
from ftptrace.net.decode import read_packets
from ftptrace.net.model import FIN, Endpoint, IcmpError, Packet, Segment
from ftptrace.net.sources import (
    DEFAULT_BPF,
    LiveSniffer,
    _bpf_code,
    _Tap,
    host_answers_bpf,
)
from ftptrace.net.tshark import tshark_ftp_view

from .pcapgen import Frame, pcap_bytes

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")


def test_live_capture_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(PrivilegeError, match="root"):
        LiveSniffer("lo").start()


def _ftp_capture(path: Path, port: int = 21) -> None:
    c, s = "192.0.2.10", "198.51.100.21"
    e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    seqs = {"c": 1000, "s": 5000}

    def line(client: bool, text: bytes) -> bytes:
        side, other = ("c", "s") if client else ("s", "c")
        src, dst, sport, dport = (c, s, 40000, port) if client else (s, c, port, 40000)
        pkt = e / IP(src=src, dst=dst) / TCP(
            sport=sport, dport=dport, flags="PA", seq=seqs[side], ack=seqs[other]
        ) / text
        seqs[side] += len(text)
        return bytes(pkt)

    dialogue = [
        (False, b"220 welcome\r\n"),
        (True, b"USER anonymous\r\n"),
        (False, b"331 password please\r\n"),
        (True, b"PASS secret123\r\n"),
        (False, b"230 logged in\r\n"),
        (True, b"PORT 192,0,2,10,156,65\r\n"),
        (False, b"200 PORT ok\r\n"),
        (True, b"EPRT |1|192.0.2.10|40002|\r\n"),
        (False, b"200 EPRT ok\r\n"),
        (True, b"EPSV\r\n"),
        (False, b"229 Entering Extended Passive Mode (|||50001|)\r\n"),
        (True, b"PASV\r\n"),
        (False, b"227 Entering Passive Mode (198,51,100,21,195,80).\r\n"),
        (True, b"RETR file.bin\r\n"),
        (False, b"425 Can't open data connection.\r\n"),
    ]
    frames = [
        Frame(ns=(i + 1) * 1_000_000_000, data=line(client, text))
        for i, (client, text) in enumerate(dialogue)
    ]
    path.write_bytes(pcap_bytes(frames))


@needs_tshark
@pytest.mark.parametrize("port", [21, 2121])
def test_tshark_ftp_view(tmp_path: Path, port: int) -> None:
    path = tmp_path / "ftp.pcap"
    _ftp_capture(path, port)
    records = tshark_ftp_view(path, control_ports=(port,))
    assert [r.frame for r in records] == list(range(1, 16))
    requests = [r for r in records if r.direction == "request"]
    assert [r.commands for r in requests] == [
        ("USER",), ("PASS",), ("PORT",), ("EPRT",), ("EPSV",), ("PASV",), ("RETR",)
    ]
    assert requests[1].args == ("****",)  # never a password
    assert requests[2].active == Endpoint("192.0.2.10", 40001)
    assert requests[3].eprt == Endpoint("192.0.2.10", 40002)
    replies = [r for r in records if r.direction == "response"]
    assert [r.response_codes for r in replies] == [
        (220,), (331,), (230,), (200,), (200,), (229,), (227,), (425,)
    ]
    assert replies[5].epsv_port == 50001
    assert replies[6].passive == Endpoint("198.51.100.21", 50000)
    assert records[0].src == Endpoint("198.51.100.21", port)


def _tcp_exchange(port_holder: list[int], server: socket.socket) -> int:
    """A short bounded exchange on 127.0.0.1: connect, one line each way, close.

    Returns the client's port. Runs in one thread too: the kernel completes the handshake
    from the listen backlog before `accept()`."""
    client = socket.create_connection(("127.0.0.1", port_holder[0]), timeout=5)
    peer, _ = server.accept()
    peer.settimeout(5)
    cport: int = client.getsockname()[1]
    with client, peer:
        client.sendall(b"USER anonymous\r\n")
        assert peer.recv(100) == b"USER anonymous\r\n"
        peer.sendall(b"331 go on\r\n")
        assert client.recv(100) == b"331 go on\r\n"
        client.shutdown(socket.SHUT_WR)
        assert peer.recv(100) == b""
        peer.shutdown(socket.SHUT_WR)
        assert client.recv(100) == b""
    return cport


def _listener() -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(5)
    return server, server.getsockname()[1]


def _collect_until_two_fins(sniffer: LiveSniffer) -> list[Segment | IcmpError]:
    got: list[Segment | IcmpError] = []
    fins = 0
    for pkt in sniffer:  # bounded by the sniffer's timeout
        got.append(pkt)
        if isinstance(pkt, Segment) and pkt.flags & FIN:
            fins += 1
        if fins == 2 and isinstance(pkt, Segment) and not pkt.flags & FIN and not pkt.payload:
            sniffer.stop()
    return got


def _key(p: Segment | IcmpError) -> tuple[object, ...]:
    assert isinstance(p, Segment)
    return (p.src, p.dst, p.flags, p.seq, p.ack, p.payload, p.ttl, p.ip_id)


@pytest.mark.lab
def test_live_sniffer_on_loopback_and_saved_file(require_lab: None, tmp_path: Path) -> None:
    server, port = _listener()
    saved = tmp_path / "live.pcapng"
    with server, LiveSniffer("lo", f"tcp port {port}", save_to=saved, timeout=20) as sniffer:
        worker = threading.Thread(target=_tcp_exchange, args=([port], server))
        worker.start()
        got = _collect_until_two_fins(sniffer)
        worker.join(timeout=10)
    assert sniffer.dropped == 0 and not sniffer.running
    segs = [p for p in got if isinstance(p, Segment)]
    assert segs[0].is_syn and segs[1].is_synack
    assert b"USER anonymous\r\n" in [s.payload for s in segs]
    assert all(s.frame > 0 for s in segs)
    with read_packets(saved) as replay:
        replayed = list(replay)
    wanted = {s.frame for s in segs}
    assert [p for p in replayed if isinstance(p, Segment) and p.frame in wanted] == segs


@pytest.mark.lab
def test_live_sniffer_every_interface_and_timeout(require_lab: None) -> None:
    server, port = _listener()
    with server, LiveSniffer(None, f"tcp port {port}", timeout=20) as sniffer:
        worker = threading.Thread(target=_tcp_exchange, args=([port], server))
        worker.start()
        got = _collect_until_two_fins(sniffer)
        worker.join(timeout=10)
    assert all(s.frame == 0 for s in got)
    assert len({_key(p) for p in got}) == len(got)  # loopback packets are not doubled
    quiet = LiveSniffer("lo", "tcp port 9", timeout=0.3)
    assert list(quiet) == []
    stopped = threading.Event()
    stopped.set()
    assert list(LiveSniffer("lo", stop_event=stopped, timeout=20)) == []


@pytest.mark.lab
def test_live_sniffer_bad_filter_and_interface(require_lab: None) -> None:
    with pytest.raises(UsageError, match="filter"):
        LiveSniffer("lo", "tcp port banana").start()
    with pytest.raises(UsageError, match="interface"):
        LiveSniffer("ftptrace-no-such0").start()


_IN_NAMESPACE = r"""
import socket, sys, threading
from ftptrace.net.sources import LiveSniffer
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1); server.settimeout(5)
port = server.getsockname()[1]
def talk():
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    a, _ = server.accept()
    c.sendall(b"SYST\r\n"); a.recv(10); c.close(); a.close()
with LiveSniffer(None, f"tcp port {port}", timeout=10, max_frames=3) as sn:
    t = threading.Thread(target=talk); t.start()
    pkts = list(sn)
    t.join(5)
print(len(pkts), pkts[0].src.ip, pkts[0].is_syn)
"""


@pytest.mark.lab
def test_live_sniffer_inside_a_namespace(require_lab: None) -> None:
    ns = f"ftptrace-sniff-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, timeout=10)
        out = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", _IN_NAMESPACE],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout
        assert out.split() == ["3", "127.0.0.1", "True"]
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False, timeout=10)


# -- what the probes need: a watch list that grows, snapshots, one copy of loopback packets ------

_LO_OUT, _LO_IN = 4, 0  # PACKET_OUTGOING, PACKET_HOST (linux/if_packet.h)
_ETHER = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


class _FakePacketSocket:
    """Frames as an AF_PACKET socket hands them over: (data, ancillary, flags, address)."""

    def __init__(self, frames: list[tuple[bytes, int, float]]) -> None:
        self.frames = list(frames)  # (frame, packet type, timestamp)

    def recvmsg(self, bufsize: int, ancsize: int) -> tuple[bytes, list[object], int, object]:
        if not self.frames:
            raise BlockingIOError
        data, pkttype, ts = self.frames.pop(0)
        sec = int(ts)
        anc = [(socket.SOL_SOCKET, 35, struct.pack("qq", sec, round((ts - sec) * 1e9)))]
        return data, anc, 0, ("lo", 0x0800, pkttype, 772, b"\0" * 6)


def _feed(sniffer: LiveSniffer, *frames: tuple[bytes, int, float], loopback: bool = True) -> None:
    """What the capture thread does with one socket's frames (no root needed)."""
    tap = _Tap(_FakePacketSocket(list(frames)), "lo", 1, loopback, -1)  # type: ignore[arg-type]
    assert sniffer._drain(tap)


def _syn(src: str, dst: str, sport: int, dport: int, flags: str = "S") -> bytes:
    ip = IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst)
    return bytes(_ETHER / ip / TCP(sport=sport, dport=dport, flags=flags))


def test_loopback_sent_copy_is_skipped_but_other_interfaces_keep_theirs() -> None:
    sniffer = LiveSniffer("lo")
    syn = _syn("127.0.0.1", "127.0.0.1", 40000, 21)
    synack = _syn("127.0.0.1", "127.0.0.1", 21, 40000, "SA")
    _feed(sniffer, (syn, _LO_OUT, 1.0), (syn, _LO_IN, 1.0), (synack, _LO_OUT, 2.0),
          (synack, _LO_IN, 2.0))
    got = sniffer.snapshot()
    assert [(p.src.port, p.dst.port) for p in got] == [(40000, 21), (21, 40000)]
    assert sniffer.frames == 2
    _feed(sniffer, (_syn("192.0.2.1", "198.51.100.2", 40001, 21), _LO_OUT, 3.0),
          loopback=False)  # on Ethernet an outgoing frame is our own SYN: keep it
    assert len(sniffer.snapshot()) == 3


def test_watch_list_grows_while_running() -> None:
    sniffer = LiveSniffer(hosts=["198.51.100.2"])
    _feed(sniffer, (_syn("192.0.2.1", "198.51.100.2", 40000, 21), _LO_IN, 1.0),
          (_syn("192.0.2.1", "203.0.113.9", 40001, 50000), _LO_IN, 2.0))  # not yet watched
    assert [p.dst.ip for p in sniffer.snapshot()] == ["198.51.100.2"]
    sniffer.watch("203.0.113.9")  # a 227 reply announced it
    sniffer.watch_port(45000)  # we listen there for the server's PORT connection
    sniffer.watch("2001:DB8:0::0:1")  # any spelling: matched as decode() writes it
    icmp = bytes(_ETHER / IP(src="192.0.2.254", dst="192.0.2.1") / ICMP(type=3, code=13)
                 / IPerror(src="192.0.2.1", dst="203.0.113.9") / TCPerror(sport=1, dport=2))
    _feed(sniffer, (_syn("192.0.2.1", "203.0.113.9", 40002, 50000), _LO_IN, 3.0),
          (_syn("203.0.113.77", "192.0.2.1", 20, 45000), _LO_IN, 4.0),
          (_syn("2001:db8::2", "2001:db8::1", 40003, 21), _LO_IN, 5.0),
          (icmp, _LO_IN, 6.0),
          (_syn("192.0.2.1", "192.0.2.99", 40004, 80), _LO_IN, 7.0))  # never watched
    got = sniffer.snapshot()
    assert [p.ts for p in got] == [1.0, 3.0, 4.0, 5.0, 6.0]
    assert isinstance(got[-1], IcmpError) and got[-1].kind == "admin-prohibited"
    everything = LiveSniffer()  # no hosts, no ports: everything the BPF passes (watch)
    _feed(everything, (_syn("192.0.2.1", "192.0.2.99", 40004, 80), _LO_IN, 7.0))
    assert len(everything.snapshot()) == 1


def test_snapshot_is_a_time_ordered_copy_and_bounded() -> None:
    sniffer = LiveSniffer(queue_size=3)
    frames = [(_syn("192.0.2.1", "192.0.2.2", 40000 + i, 21), _LO_IN, ts)
              for i, ts in enumerate((2.0, 1.0))]
    _feed(sniffer, *frames)
    first = sniffer.snapshot()
    assert [p.ts for p in first] == [1.0, 2.0]  # two interfaces' frames interleave
    first.clear()
    _feed(sniffer, (_syn("192.0.2.1", "192.0.2.2", 40002, 21), _LO_IN, 3.0))
    assert [p.ts for p in sniffer.snapshot()] == [1.0, 2.0, 3.0]
    _feed(sniffer, *[(_syn("192.0.2.1", "192.0.2.2", 40003 + i, 21), _LO_IN, 4.0 + i)
                     for i in range(5)])
    assert len(sniffer.snapshot()) == 3 and sniffer.dropped == 2  # queue 3 + kept 3: 2 over


def test_filters_compile_without_root_and_name_the_mistake() -> None:
    for bpf in (DEFAULT_BPF, host_answers_bpf("198.51.100.2"), host_answers_bpf("2001:db8::1")):
        for linktype in (1, 12):
            code = _bpf_code(bpf, linktype)
            assert code and len(code) % 8 == 0
    with pytest.raises(UsageError, match="banana") as err:
        _bpf_code("tcp port banana", 1)
    assert "\n" not in str(err.value)


def _poll(sniffer: LiveSniffer, done: Callable[[list[Packet]], bool]) -> list[Packet]:
    """Snapshots until `done` holds (at most ~10 s: no timing is asserted)."""
    for _ in range(200):
        got = sniffer.snapshot()
        if done(got):
            return got
        time.sleep(0.05)
    raise AssertionError("the capture did not show the exchange within 10 s")


def _closed(port: int) -> Callable[[list[Packet]], bool]:
    """Both FINs of the connection from client `port` were captured."""
    def done(got: list[Packet]) -> bool:
        return sum(1 for p in got if isinstance(p, Segment) and p.flags & FIN
                   and port in (p.src.port, p.dst.port)) >= 2
    return done


@pytest.mark.lab
def test_live_watch_list_snapshot_and_single_loopback_copies(
        require_lab: None, tmp_path: Path) -> None:
    """The probe's use: start with one port, add another mid-run, poll snapshots."""
    a_srv, a = _listener()
    b_srv, b = _listener()
    saved = tmp_path / "probe.pcapng"
    sniffer = LiveSniffer("lo", f"tcp port {a} or tcp port {b}", save_to=saved, ports=[a],
                          timeout=60)
    with a_srv, b_srv, sniffer:
        unwatched = _tcp_exchange([b], b_srv)  # port b is not watched yet: not kept
        first_a = _tcp_exchange([a], a_srv)
        first = _poll(sniffer, _closed(first_a))  # frames arrive in order: b's are behind us
        n_first = len(first)
        sniffer.watch_port(b)
        watched = _tcp_exchange([b], b_srv)
        final = _poll(sniffer, _closed(watched))
        assert sniffer.running  # a snapshot leaves the capture running
    assert not sniffer.running and sniffer.dropped == 0
    assert len(first) == n_first < len(final)  # the first snapshot was a copy
    segs = [p for p in final if isinstance(p, Segment)]
    assert len(segs) == len(final)
    ports = {p for s in segs for p in (s.src.port, s.dst.port)}
    assert unwatched not in ports and {a, b, first_a, watched} <= ports
    for port in (a, b):  # loopback: each packet once, not as sent and again as received
        mine = [s for s in segs if port in (s.src.port, s.dst.port)]
        assert sum(s.is_syn for s in mine) == 1 and sum(s.is_synack for s in mine) == 1
        assert [s.payload for s in mine if s.payload] == [b"USER anonymous\r\n",
                                                          b"331 go on\r\n"]
    assert len({_key(p) for p in final}) == len(final)
    assert sniffer.snapshot() == final  # still answers after stop()
    with read_packets(saved) as replay:  # only what was kept was saved, numbered from 1
        replayed = sorted(replay, key=lambda p: p.frame)
    assert [p.frame for p in replayed] == list(range(1, len(final) + 1))
    assert sorted(final, key=lambda p: p.frame) == replayed
