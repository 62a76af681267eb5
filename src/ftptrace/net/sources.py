"""Live packet capture and a tshark cross-check: the only net/ module that may use scapy.

`LiveSniffer` is ftptrace's one live capture: `watch` streams from it, and the probes
(`pasv`/`port`, `sweep`, `path`) collect from it while they run. It reads raw frames from
Linux packet sockets (one per interface, each with the BPF filter compiled for its own link
type by libpcap), hands the bytes to the same `decode()` a replay uses, and never lets
scapy dissect anything (its dissection runs at a few thousand packets/s). Only scapy's thin
libpcap binding is imported: scapy proper would add 0.2-0.5 s to every probe's start.
(The tshark cross-check adapter is in `net/tshark.py`.)
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import queue
import select
import socket
import struct
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from types import TracebackType
from typing import NamedTuple

from ftptrace.errors import CaptureError, PrivilegeError, UsageError
from ftptrace.net.decode import SUPPORTED_LINKTYPES, decode
from ftptrace.net.model import Packet, Segment
from ftptrace.net.pcap import PcapngWriter

DEFAULT_BPF = "tcp or icmp or icmp6"
_ETH_P_ALL = 0x0003
_PACKET_OUTGOING = 4
_ARPHRD_LOOPBACK = 772
# ARPHRD (linux/if_arp.h) -> the DLT libpcap uses for it, for the link types decode() reads:
# Ethernet-framed (ether, IEEE 802, loopback) and bare IP (SLIP, PPP, SIT, tun/none ...).
_ARPHRD_TO_DLT = {1: 1, 6: 1, 23: 1, 772: 1, 15: 12, 256: 12, 257: 12, 258: 12, 259: 12,
                  264: 12, 512: 12, 518: 12, 776: 12, 65534: 12}
_SO_TIMESTAMPNS = 35  # also SCM_TIMESTAMPNS (asm-generic/socket.h)
_SO_ATTACH_FILTER = 26
_RECV_SIZE = 1 << 18  # loopback GRO can hand over 64 KiB frames
_ANC_SIZE = socket.CMSG_SPACE(16)
_DRAIN_LIMIT = 256  # frames read from one socket before looking at the others again
_POLL = 0.2  # seconds between looks at the stop flag when no stop() wakes the thread
_JOIN = 5.0
_by_time = itemgetter(0)  # Segment.ts and IcmpError.ts


class _Tap(NamedTuple):
    sock: socket.socket
    name: str
    linktype: int
    loopback: bool
    out_iface: int  # interface id in the saved pcapng, -1 when not saving


class _Watch(NamedTuple):
    hosts: frozenset[str]
    ports: frozenset[int]


def _involves(pkt: Packet, watch: _Watch) -> bool:
    """A segment to or from a watched host or port, or an ICMP error quoting one."""
    if isinstance(pkt, Segment):
        src, dst = pkt.src, pkt.dst
    else:
        src, dst = pkt.quoted_src, pkt.quoted_dst
    hosts, ports = watch
    return src.ip in hosts or dst.ip in hosts or src.port in ports or dst.port in ports


def _canonical(ip: str) -> str:
    """The text form decode() gives an address (inet_ntop), so that a watched one matches."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        return socket.inet_ntop(family, socket.inet_pton(family, ip))
    except OSError:
        return ip


def host_answers_bpf(host: str) -> str:
    """A capture filter for what `host` sends over TCP plus every ICMP error (a router on
    the way answers for it): the answers to crafted probes, without the probes themselves."""
    return f"(tcp and src host {host}) or icmp or icmp6"


@functools.lru_cache(maxsize=32)
def _bpf_code(bpf: str, linktype: int) -> bytes:
    """libpcap's bytecode for `bpf` on this link type: an array of `struct sock_filter`."""
    try:
        from scapy.libs.structures import bpf_program
        from scapy.libs.winpcapy import (
            pcap_close,
            pcap_compile,
            pcap_freecode,
            pcap_geterr,
            pcap_open_dead,
        )
    except OSError as exc:  # the binding loads libpcap itself
        raise CaptureError(f"cannot compile capture filter {bpf!r}: {exc}") from exc
    pcap = pcap_open_dead(linktype, 65535)
    if not pcap:
        raise CaptureError(f"libpcap cannot compile filters for link type {linktype}")
    prog = bpf_program()
    try:
        if pcap_compile(pcap, ctypes.byref(prog), bpf.encode(), 1, -1) == -1:
            why = (pcap_geterr(pcap) or b"?").decode(errors="replace")
            raise UsageError(f"cannot use capture filter {bpf!r}: {why}")
        try:
            return ctypes.string_at(prog.bf_insns, 8 * prog.bf_len)
        finally:
            pcap_freecode(ctypes.byref(prog))
    finally:
        pcap_close(pcap)


def _attach_bpf(sock: socket.socket, bpf: str, linktype: int) -> None:
    """Compile `bpf` with libpcap for this link type and attach it to the socket."""
    code = _bpf_code(bpf, linktype)
    insns = ctypes.create_string_buffer(code, len(code))  # the kernel copies it
    fprog = struct.pack("@HP", len(code) // 8, ctypes.addressof(insns))  # struct sock_fprog
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)


class LiveSniffer:
    """Decoded TCP segments and ICMP errors from live interfaces, in a background thread.

    `iface` is one interface name, several, or None for every interface of the current
    network namespace (run it under `ip netns exec NS` to sniff inside a lab namespace;
    interfaces created after `start()` are not seen). Capture ends when `stop()` is called,
    the `stop_event` is set, `timeout` seconds have passed or `max_frames` frames were read.
    Loopback shows a packet socket every packet twice (sent, then received): the sent copy
    is skipped. Segments carry frame numbers of the saved file when `save_to` is given.

    Two ways to consume, pick one: iterate (a stream that ends with the capture, as `watch`
    does) or call `snapshot()` for everything kept so far (as a probe does, polling until
    its answers are in). Either way at most `queue_size` packets wait or are kept; more are
    counted in `dropped` instead of growing memory.

    `hosts` and `ports`, and those added while running by `watch()`/`watch_port()`, narrow
    what is kept and saved to segments to or from them and ICMP errors quoting them; with
    neither, everything the BPF filter passes is kept. They are matched frame by frame in
    the capture thread, so a packet sent after `watch()` returned is never missed.
    """

    def __init__(
        self,
        iface: str | Sequence[str] | None = None,
        bpf: str | None = DEFAULT_BPF,
        *,
        save_to: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        stop_event: threading.Event | None = None,
        max_frames: int | None = None,
        queue_size: int = 100_000,
        hosts: Iterable[str] = (),
        ports: Iterable[int] = (),
    ) -> None:
        self.ifaces = [iface] if isinstance(iface, str) else (list(iface) if iface else None)
        self.bpf = bpf
        self.save_to = save_to
        self.timeout = timeout
        self.max_frames = max_frames
        self.frames = 0
        self.dropped = 0
        self.warnings: list[str] = []
        self._stop = stop_event or threading.Event()
        self._queue: queue.Queue[Packet] = queue.Queue(maxsize=queue_size)
        self._limit = queue_size
        self._kept: list[Packet] = []
        self._lock = threading.Lock()  # _kept, _watch writers, _wake
        self._watch: _Watch | None = None
        self._done = threading.Event()
        self._taps: list[_Tap] = []
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._writer: PcapngWriter | None = None
        self._saved = 0
        self._thread: threading.Thread | None = None
        for ip in hosts:
            self.watch(ip)
        for port in ports:
            self.watch_port(port)

    # -- what to keep ----------------------------------------------------------------------------

    def watch(self, ip: str) -> None:
        """Also keep packets of `ip` (an address announced in a 227 reply, say)."""
        ip = _canonical(ip)
        with self._lock:
            w = self._watch or _Watch(frozenset(), frozenset())
            self._watch = _Watch(w.hosts | {ip}, w.ports)

    def watch_port(self, port: int) -> None:
        """Also keep segments to or from `port` (where we wait for a PORT connection)."""
        with self._lock:
            w = self._watch or _Watch(frozenset(), frozenset())
            self._watch = _Watch(w.hosts, w.ports | {port})

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> LiveSniffer:
        """Open the packet sockets (errors surface here) and start the capture thread."""
        if self._thread is not None:
            return self
        if os.geteuid() != 0:
            raise PrivilegeError("live capture needs root (raw packet sockets); run as root")
        names = self.ifaces or [name for _, name in socket.if_nameindex()]
        try:
            self._wake = socket.socketpair()
            if self.save_to is not None:
                self._writer = PcapngWriter(self.save_to)
            for name in names:
                self._open(name)
            if not self._taps:
                raise UsageError("no interface to capture on: " + ", ".join(names))
            thread = threading.Thread(target=self._run, name="ftptrace-sniff", daemon=True)
            thread.start()
        except BaseException:
            self._close_all()
            raise
        self._thread = thread
        return self

    def _open(self, name: str) -> None:
        """One socket for one interface, its filter attached before any frame can arrive.

        Created with protocol 0 and bound first with protocol 0 (no hook into the device
        yet: that bind tells the link type), then with ETH_P_ALL: hooking an idle socket
        skips the RCU grace period (~15 ms) that re-hooking a live one waits for.
        """
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        except PermissionError as exc:
            raise PrivilegeError("live capture needs CAP_NET_RAW (run as root)") from exc
        try:
            sock.bind((name, 0))
            hatype = sock.getsockname()[3]
            linktype = _ARPHRD_TO_DLT.get(hatype)
            if linktype is None or linktype not in SUPPORTED_LINKTYPES:
                sock.close()
                self.warnings.append(f"interface {name}: link type (ARPHRD {hatype}) "
                                     "not supported")
                return
            if self.bpf:
                _attach_bpf(sock, self.bpf, linktype)
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
            sock.setblocking(False)
            sock.bind((name, _ETH_P_ALL))  # a down interface is ENETDOWN: maybe up later
        except OSError as exc:
            sock.close()
            raise UsageError(f"cannot capture on interface {name!r}: {exc.strerror}") from exc
        except BaseException:
            sock.close()
            raise
        out = -1
        if self._writer is not None:
            out = self._writer.add_interface(101 if linktype in (12, 14) else linktype, name)
        self._taps.append(_Tap(sock, name, linktype, hatype == _ARPHRD_LOOPBACK, out))

    def stop(self, linger: float = 0.0) -> None:
        """End the capture, after `linger` more seconds for late RSTs and ICMP errors, and
        wait (bounded) for the thread to finish; its sockets are closed when it does."""
        if linger > 0 and self.running:
            self._done.wait(linger)
        self._stop.set()
        with self._lock:
            if self._wake is not None:
                with contextlib.suppress(OSError):
                    self._wake[1].send(b"!")  # wake the select() at once
        if self._thread is not None:
            self._thread.join(timeout=_JOIN)
            if self._thread.is_alive():
                self.warnings.append(f"the capture thread did not end within {_JOIN:g}s")

    def __enter__(self) -> LiveSniffer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    # -- consumer side ---------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Packet]:
        self.start()
        get = self._queue.get
        while True:
            try:
                yield get(timeout=0.1)
            except queue.Empty:
                if self._done.is_set() and self._queue.empty():
                    return

    def snapshot(self) -> list[Packet]:
        """Every packet kept so far, in time order: a copy, the capture goes on (and it
        still answers after `stop()`). Takes from the queue that iterating reads."""
        with self._lock:
            kept, get = self._kept, self._queue.get_nowait
            while len(kept) < self._limit:
                try:
                    kept.append(get())
                except queue.Empty:
                    break
            return sorted(kept, key=_by_time)

    # -- capture thread --------------------------------------------------------------------------

    def _run(self) -> None:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        by_fd = {tap.sock.fileno(): tap for tap in self._taps}
        wake = [self._wake[0].fileno()] if self._wake is not None else []
        try:
            while not self._stop.is_set() and by_fd:
                wait = _POLL
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        break
                ready, _, _ = select.select([*wake, *by_fd], [], [], wait)
                for fd in ready:
                    tap = by_fd.get(fd)
                    if tap is not None and not self._drain(tap):
                        del by_fd[fd]
                if self.max_frames is not None and self.frames >= self.max_frames:
                    break
        finally:
            self._close_all()
            self._done.set()

    def _drain(self, tap: _Tap) -> bool:
        """Read what one socket has; False when the interface went away."""
        put = self._queue.put_nowait
        writer = self._writer
        for _ in range(_DRAIN_LIMIT):
            try:
                data, anc, _flags, addr = tap.sock.recvmsg(_RECV_SIZE, _ANC_SIZE)
            except BlockingIOError:
                return True
            except OSError as exc:
                if exc.errno == errno.ENETDOWN:
                    return True  # reported once; the interface may come up again
                self.warnings.append(f"interface {tap.name}: capture ended ({exc.strerror})")
                return False
            if tap.loopback and addr[2] == _PACKET_OUTGOING:
                continue  # loopback shows every packet twice, as sent and as received
            ts_ns = _timestamp_ns(anc)
            self.frames += 1
            frame = self._saved + 1 if writer is not None else 0
            pkt = decode(tap.linktype, data, ts_ns / 1_000_000_000, frame)  # as a replay would
            watch = self._watch  # per frame: watch() may have added an address just now
            if watch is None or (pkt is not None and _involves(pkt, watch)):
                if writer is not None:
                    writer.write(tap.out_iface, ts_ns, data)
                    self._saved += 1
                if pkt is not None:
                    try:
                        put(pkt)
                    except queue.Full:
                        self.dropped += 1
            if self.max_frames is not None and self.frames >= self.max_frames:
                return True
        return True

    def _close_all(self) -> None:
        with self._lock:
            taps, self._taps = self._taps, []
            _close_side_by_side([tap.sock for tap in taps])
            if self._wake is not None:
                for end in self._wake:
                    end.close()
                self._wake = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.dropped:
            self.warnings.append(f"{self.dropped} packets dropped: more than {self._limit} "
                                 "were waiting or kept (the consumer fell behind)")


def _close_side_by_side(socks: list[socket.socket]) -> None:
    """Close packet sockets in parallel: each close waits an RCU grace period (~15 ms,
    packet_release -> synchronize_net), which one after another adds up per interface."""
    closers: list[threading.Thread] = []
    for sock in socks[1:]:
        closer = threading.Thread(target=sock.close, name="ftptrace-close", daemon=True)
        try:
            closer.start()
        except RuntimeError:  # no thread to spare: close it here
            sock.close()
        else:
            closers.append(closer)
    if socks:
        socks[0].close()
    for closer in closers:
        closer.join(timeout=_JOIN)


def _timestamp_ns(anc: list[tuple[int, int, bytes]]) -> int:
    """Kernel receive time (SO_TIMESTAMPNS), or now when the kernel gave none."""
    for level, kind, value in anc:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(value) >= 16:
            sec, nsec = struct.unpack_from("qq", value)
            return int(sec) * 1_000_000_000 + int(nsec)
    return time.time_ns()


__all__ = ["LiveSniffer", "host_answers_bpf"]
