"""Watch the wire while a probe runs: every TCP segment and ICMP error of the probe's hosts.

This is the probe's adapter to a live packet source. It reads a Linux AF_PACKET socket
(cooked, so every interface type yields plain IP packets, LINKTYPE_RAW) in a thread and
decodes with the replay decoder, so the live `Trace` is built by exactly the code that
reads capture files. AF_PACKET sees an inbound packet before netfilter's INPUT chain
(lab-notes): a SYN seen here and never answered was dropped by this host's own firewall.

Bounded: at most `MAX_PACKETS` decoded packets are kept (later ones are counted, not
stored); the reader thread polls its stop flag every `POLL` seconds. Without root the socket
cannot be opened and `PrivilegeError` says so; the probe then runs at socket level.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from ftptrace.errors import CaptureError, PrivilegeError
from ftptrace.net.decode import LINKTYPE_RAW, decode
from ftptrace.net.model import IcmpError, Packet, Segment

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
MAX_PACKETS = 200_000
POLL = 0.05
SNAPLEN = 65535
LINGER = 0.1
"""Seconds the tap keeps reading after the probe's last step: late RSTs and ICMP errors."""


class PcapWriter:
    """A classic pcap file (LINKTYPE_RAW, µs timestamps): what Wireshark and replay read."""

    def __init__(self, path: Path, linktype: int = LINKTYPE_RAW) -> None:
        self.path = path
        self._f = path.open("wb")
        self._f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, linktype))
        self.frames = 0

    def write(self, ts: float, data: bytes) -> int:
        """Append one frame; return its 1-based frame number."""
        sec = int(ts)
        usec = min(round((ts - sec) * 1e6), 999_999)
        self._f.write(struct.pack("<IIII", sec, usec, len(data), len(data)))
        self._f.write(data)
        self.frames += 1
        return self.frames

    def close(self) -> None:
        self._f.close()


def _involves(pkt: Packet, hosts: set[str], ports: set[int]) -> bool:
    if type(pkt) is Segment:
        return (pkt.src.ip in hosts or pkt.dst.ip in hosts or pkt.dst.port in ports
                or pkt.src.port in ports)
    assert isinstance(pkt, IcmpError)
    return pkt.quoted_src.ip in hosts or pkt.quoted_dst.ip in hosts


class Tap:
    """Sniff in a thread; `stop()` returns the decoded packets involving `hosts`."""

    def __init__(self, hosts: Iterable[str], iface: str | None = None,
                 pcap: Path | None = None) -> None:
        self.hosts = set(hosts)
        self.ports: set[int] = set()
        self.iface = iface
        self.pcap_path = pcap
        self.packets: list[Packet] = []
        self.dropped = 0
        self.seen = 0
        self.warnings: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._writer: PcapWriter | None = None
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        if self.pcap_path is not None:
            return str(self.pcap_path)
        return f"live:{self.iface or 'any'}"

    def watch(self, ip: str) -> None:
        """Also keep packets of `ip` (an address announced in a 227 reply, say)."""
        with self._lock:
            self.hosts.add(ip)

    def watch_port(self, port: int) -> None:
        """Also keep segments to or from local `port` (where we wait for a PORT connection)."""
        with self._lock:
            self.ports.add(port)

    def start(self) -> None:
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
        except PermissionError:
            raise PrivilegeError("watching packets needs root (AF_PACKET)") from None
        except (OSError, AttributeError) as exc:
            raise CaptureError(f"cannot open a packet socket: {exc}") from None
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            if self.iface:
                sock.bind((self.iface, ETH_P_ALL))
            sock.settimeout(POLL)
            if self.pcap_path is not None:
                self._writer = PcapWriter(self.pcap_path)
        except OSError as exc:
            sock.close()
            raise CaptureError(f"cannot watch {self.iface or 'all interfaces'}: {exc}") from None
        self._sock = sock
        self._thread = threading.Thread(target=self._run, name="ftptrace-tap", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._stop.is_set():
            try:
                data, anc, _flags, addr = sock.recvmsg(SNAPLEN, 64)
            except TimeoutError:
                continue
            except OSError:
                break
            # AF_PACKET address: (ifname, protocol, pkttype, hatype, hwaddr)
            if addr[0] == "lo" and addr[2] == PACKET_OUTGOING:
                continue  # loopback shows every packet twice: once out, once in
            ts = _timestamp(anc)
            self._handle(ts, data)

    def _handle(self, ts: float, data: bytes) -> None:
        pkt = decode(LINKTYPE_RAW, data, ts, 0)
        if pkt is None:
            return
        with self._lock:
            if not _involves(pkt, self.hosts, self.ports):
                return
            self.seen += 1
            if len(self.packets) >= MAX_PACKETS:
                self.dropped += 1
                return
            if self._writer is not None:
                frame = self._writer.write(ts, data)
                pkt = pkt._replace(frame=frame)
            self.packets.append(pkt)

    def snapshot(self) -> list[Packet]:
        """The packets kept so far (a copy; the reader thread goes on)."""
        with self._lock:
            return list(self.packets)

    def stop(self, linger: float = LINGER) -> list[Packet]:
        if self._thread is not None:
            if linger > 0:
                time.sleep(linger)
            self._stop.set()
            self._thread.join(timeout=2.0)
        if self._sock is not None:
            self._sock.close()
        if self._writer is not None:
            self._writer.close()
        if self.dropped:
            self.warnings.append(f"{self.dropped} packets beyond {MAX_PACKETS} were not kept")
        with self._lock:
            return sorted(self.packets, key=lambda p: p.ts)


_TIMESPEC = struct.Struct("qq")


def _timestamp(anc: list[tuple[int, int, bytes]]) -> float:
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = _TIMESPEC.unpack(data[:16])
            ts: float = sec + nsec / 1e9
            return ts
    return time.time()
