"""Live sniffing (lab: root, loopback and a private namespace) and the tshark adapter."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from ftptrace.errors import PrivilegeError, UsageError
from ftptrace.net.decode import read_packets
from ftptrace.net.model import FIN, Endpoint, IcmpError, Segment
from ftptrace.net.sources import LiveSniffer, tshark_ftp_view

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


def _tcp_exchange(port_holder: list[int], server: socket.socket) -> None:
    """A short bounded exchange on 127.0.0.1: connect, one line each way, close."""
    client = socket.create_connection(("127.0.0.1", port_holder[0]), timeout=5)
    peer, _ = server.accept()
    peer.settimeout(5)
    with client, peer:
        client.sendall(b"USER anonymous\r\n")
        assert peer.recv(100) == b"USER anonymous\r\n"
        peer.sendall(b"331 go on\r\n")
        assert client.recv(100) == b"331 go on\r\n"
        client.shutdown(socket.SHUT_WR)
        assert peer.recv(100) == b""
        peer.shutdown(socket.SHUT_WR)
        assert client.recv(100) == b""


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
