"""The few socket operations a probe needs, behind a protocol so tests can replay sessions.

Every call takes an absolute deadline (from `Network.now()`): nothing in a probe waits
without a bound. `SocketNetwork` is the real thing; tests use a scripted fake whose clock
jumps to a deadline instead of sleeping, so a "silent server" test takes no time.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import ssl
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from ftptrace.errors import FtptraceError, ProbeTimeout
from ftptrace.net.model import Endpoint

RECV_SIZE = 65536


class StepTimeout(ProbeTimeout):
    """One bounded wait ended with nothing to show."""


class ConnectFailed(FtptraceError):
    """A TCP connect did not succeed; `kind` is what the socket layer could tell."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        """'refused' (RST), 'timeout' (no answer), 'unreachable' (ICMP error), 'error'."""
        self.detail = detail


class Stream(Protocol):
    """A connected TCP stream."""

    @property
    def local(self) -> Endpoint: ...

    @property
    def peer(self) -> Endpoint: ...

    def send(self, data: bytes, deadline: float) -> None: ...

    def recv(self, deadline: float) -> bytes:
        """Next bytes; b"" at EOF; `StepTimeout` at the deadline."""
        ...

    def shutdown_write(self) -> None: ...

    def start_tls(self, server_name: str, keylog: Path | None, deadline: float) -> None: ...

    def close(self) -> None: ...


class Listener(Protocol):
    @property
    def local(self) -> Endpoint: ...

    def accept(self, deadline: float) -> Stream: ...

    def close(self) -> None: ...


Waitable = Stream | Listener


class Network(Protocol):
    def now(self) -> float:
        """Monotonic seconds: every deadline is measured on this clock."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch, for timestamps in the transcript and the trace."""
        ...

    def connect(self, ip: str, port: int, deadline: float, *,
                source_ip: str | None = None) -> Stream: ...

    def listen(self, ip: str, port: int) -> Listener: ...

    def wait(self, items: Sequence[Waitable], deadline: float) -> list[Waitable]:
        """The items that are readable (a stream with data/EOF, a listener with a
        connection to accept) by the deadline; [] when it passed."""
        ...


def _ep(addr: tuple[str, int] | tuple[str, int, int, int]) -> Endpoint:
    return Endpoint(addr[0].split("%")[0], int(addr[1]))


_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EACCES, errno.EPERM,
                errno.ENETDOWN, errno.EHOSTDOWN}


class SocketStream:
    def __init__(self, sock: socket.socket) -> None:
        self.sock: socket.socket | ssl.SSLSocket = sock
        self._local = _ep(sock.getsockname())
        self._peer = _ep(sock.getpeername())

    @property
    def local(self) -> Endpoint:
        return self._local

    @property
    def peer(self) -> Endpoint:
        return self._peer

    def fileno(self) -> int:
        return self.sock.fileno()

    def pending(self) -> bool:
        """Decrypted bytes already buffered inside the TLS layer (select cannot see them)."""
        return isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0

    def _settimeout(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise StepTimeout("deadline passed")
        self.sock.settimeout(left)

    def send(self, data: bytes, deadline: float) -> None:
        self._settimeout(deadline)
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise StepTimeout("send did not complete in time") from None

    def recv(self, deadline: float) -> bytes:
        self._settimeout(deadline)
        try:
            return self.sock.recv(RECV_SIZE)
        except TimeoutError:
            raise StepTimeout("no data in time") from None
        except ConnectionResetError:
            return b""

    def shutdown_write(self) -> None:
        try:
            if isinstance(self.sock, ssl.SSLSocket):
                self.sock = self.sock.unwrap()
            self.sock.shutdown(socket.SHUT_WR)
        except (OSError, ValueError):
            pass

    def start_tls(self, server_name: str, keylog: Path | None, deadline: float) -> None:
        """Explicit FTPS (RFC 4217 §4): TLS on the existing control connection.

        The certificate is not verified: a probe diagnoses the path, it does not vouch for
        the server. The key log (NSS format) lets Wireshark decrypt the capture later.
        """
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if keylog is not None:
            ctx.keylog_filename = str(keylog)
        self._settimeout(deadline)
        assert not isinstance(self.sock, ssl.SSLSocket)
        try:
            self.sock = ctx.wrap_socket(self.sock, server_hostname=server_name or None)
        except (TimeoutError, ssl.SSLError, OSError) as exc:
            raise ConnectFailed("error", f"TLS handshake failed: {exc}") from None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class SocketListener:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._local = _ep(sock.getsockname())

    @property
    def local(self) -> Endpoint:
        return self._local

    def fileno(self) -> int:
        return self.sock.fileno()

    def accept(self, deadline: float) -> Stream:
        left = deadline - time.monotonic()
        if left <= 0:
            raise StepTimeout("no connection in time")
        self.sock.settimeout(left)
        try:
            conn, _ = self.sock.accept()
        except TimeoutError:
            raise StepTimeout("no connection in time") from None
        return SocketStream(conn)

    def close(self) -> None:
        self.sock.close()


class SocketNetwork:
    """Real sockets; all waits bounded by the deadlines passed in."""

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def connect(self, ip: str, port: int, deadline: float, *,
                source_ip: str | None = None) -> Stream:
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        sock = socket.socket(fam, socket.SOCK_STREAM)
        try:
            if source_ip is not None:
                sock.bind((source_ip, 0))
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConnectFailed("timeout", "no time left to connect")
            sock.settimeout(left)
            sock.connect((ip, port))
        except TimeoutError:
            sock.close()
            raise ConnectFailed("timeout", "no answer to the SYN in time") from None
        except ConnectionRefusedError:
            sock.close()
            raise ConnectFailed("refused", "connection refused (RST)") from None
        except OSError as exc:
            sock.close()
            if isinstance(exc, ConnectFailed):
                raise
            kind = "unreachable" if exc.errno in _UNREACHABLE else "error"
            raise ConnectFailed(kind, exc.strerror or str(exc)) from None
        return SocketStream(sock)

    def listen(self, ip: str, port: int) -> Listener:
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        sock = socket.socket(fam, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
            sock.listen(4)
        except OSError as exc:
            sock.close()
            raise ConnectFailed("error", f"cannot listen on {ip} port {port}: "
                                         f"{exc.strerror or exc}") from None
        return SocketListener(sock)

    def wait(self, items: Sequence[Waitable], deadline: float) -> list[Waitable]:
        ready: list[Waitable] = [i for i in items
                                 if isinstance(i, SocketStream) and i.pending()]
        if ready:
            return ready
        left = deadline - time.monotonic()
        if left <= 0:
            return []
        fds = {_fileno(i): i for i in items}
        r, _, _ = select.select(list(fds), [], [], left)
        return [fds[f] for f in r]


def _fileno(item: Waitable) -> int:
    fileno = getattr(item, "fileno", None)
    if fileno is None:
        raise TypeError("not a socket-backed stream or listener")
    value = fileno()
    assert isinstance(value, int)
    return value


def is_root() -> bool:
    return os.geteuid() == 0
