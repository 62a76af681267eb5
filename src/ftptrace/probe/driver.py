"""The control-channel driver: a blocking loop around the sans-IO `FtpSession`.

It does what the field guide's "command-operation" check asks a person to do with telnet
(type USER/PASS/PASV by hand, work out p1*256+p2), and writes it down the same way:

    → PASV
    ← 227 Entering Passive Mode (192,168,1,2,195,80).
      = 192.168.1.2 port 50000 (195*256+80)

Our own bytes are fed to the session as TO_SERVER and the server's as TO_CLIENT, so the
transcript comes from the same parser a replay uses; passwords are masked by it
(`codec.mask_argument`) before any line exists. Every wait has a deadline; the caller
passes the same one to every step of a phase (see `runner`), not a fresh one per step.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

from ftptrace.errors import FtptraceError
from ftptrace.ftp import codec
from ftptrace.ftp.events import (
    Anomaly,
    CommandSent,
    DataChannelAnnounced,
    Direction,
    ReplyReceived,
    TlsStarted,
)
from ftptrace.ftp.session import FtpSession
from ftptrace.probe.net import Network, Stream

RAW_LOG_LIMIT = 1 << 20
"""Bytes of control traffic kept for the socket-level trace (the dialogue is far smaller)."""


class ControlClosed(FtptraceError):
    """The server closed the control connection."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    """One transcript line: sent (→), received (←), derived (=) or a note (·, !)."""

    ts: float
    kind: str
    text: str

    def render(self) -> str:
        return _PREFIX.get(self.kind, "  ") + self.text


_PREFIX = {"sent": "→ ", "received": "← ", "derived": "  = ", "note": "  · ",
           "problem": "  ! ", "more": "    "}


class Transcript:
    """The dialogue so far, in order; bounded (a chatty server cannot exhaust memory)."""

    LIMIT = 5000

    def __init__(self, net: Network) -> None:
        self._net = net
        self.lines: list[Line] = []

    def add(self, kind: str, text: str) -> None:
        if len(self.lines) < self.LIMIT:
            self.lines.append(Line(ts=self._net.wall(), kind=kind, text=text))

    def note(self, text: str) -> None:
        self.add("note", text)

    def problem(self, text: str) -> None:
        self.add("problem", text)

    def render(self) -> list[str]:
        return [line.render() for line in self.lines]


def explain_announcement(ev: DataChannelAnnounced) -> str:
    """The '=' line: the address a PORT/PASV form stands for, with the port arithmetic
    the guide asks for (RFC 959 §4.1.2: port = p1*256 + p2)."""
    arith = f" ({ev.port >> 8}*256+{ev.port & 0xFF})" if ev.via in ("PASV", "PORT") else ""
    if ev.host is None:
        return f"port {ev.port} on the control connection's address (RFC 2428 §3)"
    return f"{ev.host} port {ev.port}{arith}"


class ControlChannel:
    """One FTP control connection, driven step by step; each call waits until the
    deadline it is given (the caller's phase deadline, shared by the phase's steps)."""

    def __init__(self, stream: Stream, net: Network, transcript: Transcript) -> None:
        self.stream = stream
        self.net = net
        self.transcript = transcript
        self._session = FtpSession()
        self._replies: deque[ReplyReceived] = deque()
        self.announced: list[DataChannelAnnounced] = []
        self.raw: list[tuple[Direction, float, bytes]] = []
        self._raw_bytes = 0
        self.closed = False
        self.tls = False

    @property
    def local(self) -> str:
        return self.stream.local.ip

    @property
    def peer(self) -> str:
        return self.stream.peer.ip

    def _feed(self, direction: Direction, data: bytes) -> None:
        ts = self.net.wall()
        if self._raw_bytes + len(data) <= RAW_LOG_LIMIT:
            self.raw.append((direction, ts, data))
            self._raw_bytes += len(data)
        for ev in self._session.receive(direction, data, ts, 0):
            if isinstance(ev, CommandSent):
                shown = ev.verb if ev.arg is None else f"{ev.verb} {ev.arg}"
                self.transcript.add("sent", shown)
            elif isinstance(ev, ReplyReceived):
                first, *rest = ev.text.split("\n")
                self.transcript.add("received", f"{ev.code} {first}".rstrip())
                for line in rest[:20]:
                    self.transcript.add("more", line)
                self._replies.append(ev)
            elif isinstance(ev, DataChannelAnnounced):
                self.announced.append(ev)
                self.transcript.add("derived", explain_announcement(ev))
            elif isinstance(ev, Anomaly):
                self.transcript.problem(f"{ev.kind}: {ev.detail}")
            elif isinstance(ev, TlsStarted):
                self.transcript.note("AUTH TLS accepted: from here the control channel is "
                                     "encrypted on the wire (RFC 4217 §4)")

    def send(self, verb: str, arg: str | None, deadline: float) -> None:
        data = codec.format_command(verb, arg)
        if self.closed:
            raise ControlClosed("the server closed the control connection")
        self.stream.send(data, deadline)
        self._feed(Direction.TO_SERVER, data)

    def readable(self) -> bool:
        """A reply is already parsed and waiting."""
        return bool(self._replies)

    def reply(self, deadline: float) -> ReplyReceived:
        """The next complete reply (preliminary or final)."""
        while not self._replies:
            if self.closed:
                raise ControlClosed("the server closed the control connection")
            data = self.stream.recv(deadline)
            if not data:
                self.closed = True
                self.transcript.problem("the server closed the control connection")
                raise ControlClosed("the server closed the control connection")
            self._feed(Direction.TO_CLIENT, data)
        return self._replies.popleft()

    def final(self, deadline: float) -> ReplyReceived:
        """Read past 1yz replies to the final one (RFC 959 §4.2.1)."""
        while True:
            r = self.reply(deadline)
            if not r.preliminary:
                return r

    def command(self, verb: str, arg: str | None, deadline: float) -> ReplyReceived:
        self.send(verb, arg, deadline)
        return self.final(deadline)

    def start_tls(self, server_name: str, keylog: Path | None, deadline: float) -> None:
        """After 234 to AUTH TLS: wrap the socket; parse the plaintext with a new session."""
        self.stream.start_tls(server_name, keylog, deadline)
        self.tls = True
        # The session parser went opaque at AUTH TLS; the plaintext we hold is parsed by a
        # fresh one so the transcript goes on (what Wireshark shows with the key log).
        self._session = FtpSession()

    def announcement_for(self, verb: str) -> DataChannelAnnounced | None:
        """The announcement made by the latest `verb` command, if it parsed."""
        if self.announced and self.announced[-1].via == verb:
            return self.announced[-1]
        return None

    def close(self) -> None:
        self.stream.close()
