"""A tiny malicious FTP server on 127.0.0.1, one scripted misbehaviour per instance.

Every loop here is bounded: the accept loop and each connection poll a stop event every
50 ms, a connection handles at most MAX_COMMANDS commands, and `stop()` joins its threads
with a timeout. Only loopback is used (the network rule).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

POLL = 0.05
MAX_COMMANDS = 200
Handler = Callable[["Conn"], None]


class Closed(Exception):
    """The peer went away or the server is stopping."""


@dataclass
class Conn:
    sock: socket.socket
    stop: threading.Event
    buf: bytearray = field(default_factory=bytearray)
    commands: list[bytes] = field(default_factory=list)

    def send(self, data: bytes) -> None:
        if self.stop.is_set():
            raise Closed
        try:
            self.sock.sendall(data)
        except OSError:
            raise Closed from None

    def drip(self, data: bytes, interval: float) -> None:
        """One byte at a time, `interval` seconds apart (slowloris)."""
        for b in data:
            self.send(bytes((b,)))
            if self.stop.wait(interval):
                raise Closed

    def lines(self) -> Iterator[bytes]:
        """Command lines from the client (bounded in count; ends at EOF or stop)."""
        self.sock.settimeout(POLL)
        while len(self.commands) < MAX_COMMANDS and not self.stop.is_set():
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line = bytes(self.buf[: nl + 1])
                del self.buf[: nl + 1]
                self.commands.append(line)
                yield line
                continue
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            self.buf += chunk

    def idle(self, seconds: float = 30.0) -> None:
        """Hold the connection open, saying nothing."""
        self.stop.wait(seconds)


class EvilFtpServer:
    """`with EvilFtpServer(handler) as srv:` … `srv.port`, `srv.connections`."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.stop_event = threading.Event()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(POLL)
        self.port: int = self.listener.getsockname()[1]
        self.connections: list[Conn] = []
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> EvilFtpServer:
        t = threading.Thread(target=self._accept, name="evilftp-accept", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        for t in self._threads:
            t.join(timeout=2.0)
        for c in self.connections:
            c.sock.close()
        self.listener.close()

    def _accept(self) -> None:
        while not self.stop_event.is_set() and len(self.connections) < 32:
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn = Conn(sock, self.stop_event)
            self.connections.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: Conn) -> None:
        try:
            self.handler(conn)
        except Closed:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)


# --- behaviours ---------------------------------------------------------------------------

THIRD_PARTY = "8.8.8.8"
"""A public address that is neither the server nor us: the probe must never dial it."""


def verb(line: bytes) -> bytes:
    return line.split(b" ", 1)[0].strip().upper()


def argument(line: bytes) -> bytes:
    return line.split(b" ", 1)[1].strip() if b" " in line.strip() else b""


def echoing(pasv_reply: bytes = b"227 Entering Passive Mode (8,8,8,8,195,80).",
            transfer: bytes = b"425 Can't open data connection.",
            greeting: bytes = b"220 evil ftp") -> Handler:
    """Answers everything; echoes the password in 530/230 replies and quotes it back later."""

    def handle(c: Conn) -> None:
        c.send(greeting + b"\r\n")
        password = b""
        for line in c.lines():
            v = verb(line)
            if v == b"USER":
                c.send(b"331 Password for " + argument(line) + b" please\r\n")
            elif v == b"PASS":
                password = argument(line)
                c.send(b"230-Your password " + password + b" was accepted\r\n"
                       b"230 Logged in with " + password + b"\r\n")
            elif v == b"PASV":
                c.send(pasv_reply + b"\r\n")
            elif v == b"EPSV":
                c.send(b"229 Entering Extended Passive Mode (|||1|)\r\n")
            elif v in (b"PORT", b"EPRT"):
                c.send(b"500\r\n")  # a bare code, no text
            elif v in (b"LIST", b"NLST", b"RETR", b"STOR"):
                c.send(transfer + b" (" + password + b")\r\n")
            elif v == b"QUIT":
                c.send(b"221 Bye " + password + b"\r\n")
                return
            else:
                c.send(b"500 Unknown command " + line.strip() + b"\r\n")

    return handle


def silent(c: Conn) -> None:
    """Accepts the connection and never says a word."""
    c.idle()


def slowloris(c: Conn) -> None:
    """A greeting at one byte per second: it never completes in time."""
    c.drip(b"220 " + b"z" * 60 + b"\r\n", 1.0)
    c.idle()


def endless_multiline(c: Conn) -> None:
    """A 220 multi-line reply that never ends (RFC 959 §4.2: the last line never comes)."""
    c.send(b"220-welcome\r\n")
    while not c.stop.is_set():
        c.send(b"220-and more, and more, and more\r\n" * 64)
        time.sleep(0.002)


def close_mid_reply(c: Conn) -> None:
    """Greets, asks for a password, then hangs up in the middle of the 230 reply."""
    c.send(b"220 hi\r\n")
    for line in c.lines():
        if verb(line) == b"USER":
            c.send(b"331 pw\r\n")
        elif verb(line) == b"PASS":
            c.send(b"230-Welc")
            return
        else:
            c.send(b"500 no\r\n")


def dripping(interval: float) -> Handler:
    """Greeting, USER and PASS replies each complete, one byte per `interval` (slowloris
    that stays just inside a per-step timeout); the rest is answered at once."""

    def handle(c: Conn) -> None:
        c.drip(b"220 hi\r\n", interval)
        for line in c.lines():
            v = verb(line)
            if v in (b"USER", b"PASS"):
                c.drip(b"331 pw\r\n" if v == b"USER" else b"230 ok\r\n", interval)
            elif v == b"PASV":
                c.send(b"227 Entering Passive Mode (127,0,0,1,0,1).\r\n")
            else:
                c.send(b"221 bye\r\n" if v == b"QUIT" else b"500 no\r\n")

    return handle
