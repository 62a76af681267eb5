"""Live packet capture and a tshark cross-check: the only net/ module that may use scapy.

`LiveSniffer` reads raw frames from Linux packet sockets (one per interface, each with the
BPF filter compiled for its own link type by libpcap through scapy), hands the bytes to the
same `decode()` a replay uses, and never lets scapy dissect anything (its dissection runs
at a few thousand packets/s). `tshark_ftp_view` asks Wireshark's FTP dissector for the
control dialogue of a capture, so tests and the benchmark can check ours against it.
"""

from __future__ import annotations

import errno
import os
import queue
import select
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import NamedTuple

from ftptrace.errors import CaptureError, PrivilegeError, UsageError
from ftptrace.net.decode import SUPPORTED_LINKTYPES, decode
from ftptrace.net.model import Endpoint, IcmpError, Segment
from ftptrace.net.pcap import PcapngWriter

DEFAULT_BPF = "tcp or icmp or icmp6"
_ETH_P_ALL = 0x0003
_PACKET_OUTGOING = 4
_ARPHRD_LOOPBACK = 772
_SO_TIMESTAMPNS = 35  # also SCM_TIMESTAMPNS (asm-generic/socket.h)
_SO_ATTACH_FILTER = 26
_RECV_SIZE = 1 << 18  # loopback GRO can hand over 64 KiB frames
_ANC_SIZE = socket.CMSG_SPACE(16)
_DRAIN_LIMIT = 256  # frames read from one socket before looking at the others again


class _Tap(NamedTuple):
    sock: socket.socket
    name: str
    linktype: int
    loopback: bool
    out_iface: int  # interface id in the saved pcapng, -1 when not saving


def _linktype_of(hatype: int) -> int | None:
    from scapy.data import ARPHRD_TO_DLT

    lt = ARPHRD_TO_DLT.get(hatype)
    return lt if isinstance(lt, int) and lt in SUPPORTED_LINKTYPES else None


def _attach_bpf(sock: socket.socket, bpf: str, linktype: int) -> None:
    """Compile `bpf` with libpcap for this link type and attach it to the socket."""
    from scapy.arch.common import compile_filter, free_filter
    from scapy.libs.structures import sock_fprog

    try:
        prog = compile_filter(bpf, linktype=linktype)
    except Exception as exc:  # scapy raises its own and libpcap's errors as Scapy_Exception
        raise UsageError(f"cannot use capture filter {bpf!r}: {exc}") from exc
    try:
        fprog = sock_fprog(prog.bf_len, prog.bf_insns)
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, bytes(fprog))
    finally:
        free_filter(prog)


class LiveSniffer:
    """Decoded TCP segments and ICMP errors from live interfaces, in a background thread.

    `iface` is one interface name, several, or None for every interface of the current
    network namespace (run it under `ip netns exec NS` to sniff inside a lab namespace;
    interfaces created after `start()` are not seen). Capture ends when `stop()` is called,
    the `stop_event` is set, `timeout` seconds have passed or `max_frames` frames were read;
    iteration then drains what was queued and ends. When the consumer falls behind, the
    bounded queue drops packets and counts them in `dropped` instead of growing.
    Segments carry frame numbers of the saved file when `save_to` is given, else 0.
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
        self._queue: queue.Queue[Segment | IcmpError] = queue.Queue(maxsize=queue_size)
        self._done = threading.Event()
        self._taps: list[_Tap] = []
        self._writer: PcapngWriter | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> LiveSniffer:
        """Open the packet sockets (errors surface here) and start the capture thread."""
        if self._thread is not None:
            return self
        if os.geteuid() != 0:
            raise PrivilegeError("live capture needs root (raw packet sockets); run as root")
        names = self.ifaces or [name for _, name in socket.if_nameindex()]
        try:
            if self.save_to is not None:
                self._writer = PcapngWriter(self.save_to)
            for name in names:
                self._open(name)
        except BaseException:
            self._close_all()
            raise
        if not self._taps:
            self._close_all()
            raise UsageError("no interface to capture on: " + ", ".join(names))
        self._thread = threading.Thread(target=self._run, name="ftptrace-sniff", daemon=True)
        self._thread.start()
        return self

    def _open(self, name: str) -> None:
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
        except PermissionError as exc:
            raise PrivilegeError("live capture needs CAP_NET_RAW (run as root)") from exc
        try:
            sock.bind((name, _ETH_P_ALL))
        except OSError as exc:
            sock.close()
            raise UsageError(f"cannot capture on interface {name!r}: {exc.strerror}") from exc
        hatype = sock.getsockname()[3]
        linktype = _linktype_of(hatype)
        if linktype is None:
            sock.close()
            self.warnings.append(f"interface {name}: link type (ARPHRD {hatype}) not supported")
            return
        try:
            if self.bpf:
                _attach_bpf(sock, self.bpf, linktype)
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
            sock.setblocking(False)
            for _ in range(10_000):  # frames queued between bind and filter: drop them
                sock.recv(_RECV_SIZE)
        except (BlockingIOError, OSError) as exc:
            if exc.errno not in (errno.EAGAIN, errno.ENETDOWN):  # down now, maybe up later
                sock.close()
                raise UsageError(f"cannot capture on {name!r}: {exc.strerror}") from exc
        except BaseException:
            sock.close()
            raise
        out = -1
        if self._writer is not None:
            out = self._writer.add_interface(101 if linktype in (12, 14) else linktype, name)
        self._taps.append(_Tap(sock, name, linktype, hatype == _ARPHRD_LOOPBACK, out))

    def stop(self) -> None:
        """Ask the capture to end and wait (bounded) for the thread to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

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

    def __iter__(self) -> Iterator[Segment | IcmpError]:
        self.start()
        get = self._queue.get
        while True:
            try:
                yield get(timeout=0.1)
            except queue.Empty:
                if self._done.is_set() and self._queue.empty():
                    return

    # -- capture thread --------------------------------------------------------------------------

    def _run(self) -> None:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        by_fd = {tap.sock.fileno(): tap for tap in self._taps}
        try:
            while not self._stop.is_set() and by_fd:
                wait = 0.2
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        break
                ready, _, _ = select.select(list(by_fd), [], [], wait)
                for fd in ready:
                    if not self._drain(by_fd[fd]):
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
            frame = 0
            if writer is not None:
                writer.write(tap.out_iface, ts_ns, data)
                frame = self.frames
            pkt = decode(tap.linktype, data, ts_ns / 1_000_000_000, frame)  # as a replay would
            if pkt is not None:
                try:
                    put(pkt)
                except queue.Full:
                    self.dropped += 1
            if self.max_frames is not None and self.frames >= self.max_frames:
                return True
        return True

    def _close_all(self) -> None:
        for tap in self._taps:
            tap.sock.close()
        if self._writer is not None:
            self._writer.close()
        if self.dropped:
            self.warnings.append(f"{self.dropped} packets dropped: the consumer was too slow")


def _timestamp_ns(anc: list[tuple[int, int, bytes]]) -> int:
    """Kernel receive time (SO_TIMESTAMPNS), or now when the kernel gave none."""
    for level, kind, value in anc:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(value) >= 16:
            sec, nsec = struct.unpack_from("qq", value)
            return int(sec) * 1_000_000_000 + int(nsec)
    return time.time_ns()


# -- tshark cross-check ----------------------------------------------------------------------

_FIELDS = (
    "frame.number", "frame.time_epoch", "ip.src", "ipv6.src", "tcp.srcport",
    "ip.dst", "ipv6.dst", "tcp.dstport", "ftp.request", "ftp.request.command",
    "ftp.request.arg", "ftp.response.code", "ftp.response.arg", "ftp.passive.ip",
    "ftp.passive.port", "ftp.active.cip", "ftp.active.port", "ftp.eprt.ip", "ftp.eprt.ipv6",
    "ftp.eprt.port", "ftp.epsv.port",
)
_SEP = "\x1f"
_AGG = "\x1e"


class TsharkFtpRecord(NamedTuple):
    """What Wireshark's FTP dissector saw in one frame (several lines may share a frame)."""

    frame: int
    ts: float
    src: Endpoint
    dst: Endpoint
    direction: str  # "request" (client to server) or "response"
    commands: tuple[str, ...]
    args: tuple[str, ...]  # PASS arguments are replaced by "****"
    response_codes: tuple[int, ...]
    response_args: tuple[str, ...]
    passive: Endpoint | None  # 227 reply (ftp.passive.ip / ftp.passive.port)
    active: Endpoint | None  # PORT command (ftp.active.cip / ftp.active.port)
    eprt: Endpoint | None
    epsv_port: int | None


def tshark_ftp_view(
    path: str | os.PathLike[str], control_ports: Sequence[int] = (21,), timeout: float = 600.0
) -> list[TsharkFtpRecord]:
    """Run `tshark -T fields` over a capture and return its FTP control-channel frames."""
    exe = shutil.which("tshark")
    if exe is None:
        raise CaptureError("tshark is not installed (apt-get install tshark)")
    cmd = [exe, "-n", "-r", os.fspath(path), "-Y", "ftp", "-T", "fields",
           "-E", f"separator={_SEP}", "-E", f"aggregator={_AGG}", "-E", "occurrence=a"]
    for port in control_ports:
        if port != 21:
            cmd += ["-d", f"tcp.port=={port},ftp"]
    for field in _FIELDS:
        cmd += ["-e", field]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CaptureError(f"tshark did not finish reading {os.fsdecode(path)}") from exc
    if done.returncode != 0:
        msg = done.stderr.decode(errors="replace").strip().splitlines()
        raise CaptureError(f"tshark failed on {os.fsdecode(path)}: {msg[-1] if msg else '?'}")
    return [
        _record(line.split(_SEP))
        for line in done.stdout.decode(errors="replace").splitlines()
        if line.count(_SEP) == len(_FIELDS) - 1
    ]


def _record(col: list[str]) -> TsharkFtpRecord:
    def many(i: int) -> tuple[str, ...]:
        return tuple(col[i].split(_AGG)) if col[i] else ()

    def one(i: int) -> str:
        return col[i].split(_AGG)[0]

    def endpoint(ip: str, port: str) -> Endpoint | None:
        return Endpoint(ip, int(port)) if ip and port else None

    commands = many(9)
    args = many(10)
    if any(c.upper() == "PASS" for c in commands):
        args = tuple("****" for _ in args)
    return TsharkFtpRecord(
        frame=int(col[0]),
        ts=float(col[1]),
        src=Endpoint(one(2) or one(3), int(one(4) or 0)),
        dst=Endpoint(one(5) or one(6), int(one(7) or 0)),
        direction="request" if one(8) in ("1", "True") else "response",
        commands=commands,
        args=args,
        response_codes=tuple(int(c) for c in many(11) if c.isdigit()),
        response_args=many(12),
        passive=endpoint(one(13), one(14)),
        active=endpoint(one(15), one(16)),
        eprt=endpoint(one(17) or one(18), one(19)),
        epsv_port=int(one(20)) if one(20).isdigit() else None,
    )
