"""A recorded FTP server behind a fake `Network`: no sockets, no sleeps.

The clock only moves when a wait would time out (it jumps to the deadline), so a test of
"a silent data port" finishes at once while the probe still sees its full timeout pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ftptrace.net.model import Endpoint
from ftptrace.probe.net import ConnectFailed, StepTimeout, Waitable


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def jump(self, deadline: float) -> None:
        self.t = max(self.t, deadline)


@dataclass
class Script:
    """How the recorded server answers; change fields per test."""

    server_ip: str = "198.51.100.2"
    client_ip: str = "203.0.113.10"
    control_port: int = 21
    greeting: bytes = b"220 ftptrace test server\r\n"
    login: bytes = b"230 Login successful.\r\n"
    pasv_host: str = "198.51.100.2"
    pasv_port: int = 50000
    data: str = "ok"
    """Passive data port: ok | refused | timeout | unreachable."""
    listing: bytes = b"-rw-r--r-- 1 0 0 10 test.txt\r\n"
    port_reply: bytes = b"200 PORT command successful.\r\n"
    active: str = "connect"
    """Active: connect | fail (425) | silent."""
    active_source: tuple[str, int] = ("198.51.100.2", 20)
    silent_control: bool = False
    commands: list[str] = field(default_factory=list)


class FakeData:
    def __init__(self, net: FakeNetwork, local: Endpoint, peer: Endpoint, payload: bytes) -> None:
        self.net = net
        self._local, self._peer = local, peer
        self.buf = payload
        self.eof = False
        self.sent = b""

    @property
    def local(self) -> Endpoint:
        return self._local

    @property
    def peer(self) -> Endpoint:
        return self._peer

    def ready(self) -> bool:
        return not self.eof

    def send(self, data: bytes, deadline: float) -> None:
        self.sent += data

    def recv(self, deadline: float) -> bytes:
        if self.buf:
            out, self.buf = self.buf, b""
            return out
        self.eof = True
        return b""

    def shutdown_write(self) -> None:
        pass

    def start_tls(self, server_name: str, keylog: Path | None, deadline: float) -> None:
        raise ConnectFailed("error", "no TLS in the fake")

    def close(self) -> None:
        self.eof = True


class FakeControl:
    def __init__(self, net: FakeNetwork, local: Endpoint, peer: Endpoint) -> None:
        self.net = net
        self._local, self._peer = local, peer
        s = net.script
        self.inbox = b"" if s.silent_control else s.greeting
        self.closed = False

    @property
    def local(self) -> Endpoint:
        return self._local

    @property
    def peer(self) -> Endpoint:
        return self._peer

    def ready(self) -> bool:
        return bool(self.inbox)

    def send(self, data: bytes, deadline: float) -> None:
        line = data.decode().rstrip("\r\n")
        verb, _, arg = line.partition(" ")
        self.net.script.commands.append(line)
        self.inbox += self.net.answer(verb.upper(), arg)

    def recv(self, deadline: float) -> bytes:
        if not self.inbox:
            self.net.clock.jump(deadline)
            raise StepTimeout("silent")
        out, self.inbox = self.inbox, b""
        return out

    def shutdown_write(self) -> None:
        pass

    def start_tls(self, server_name: str, keylog: Path | None, deadline: float) -> None:
        raise ConnectFailed("error", "no TLS in the fake")

    def close(self) -> None:
        self.closed = True


class FakeListener:
    def __init__(self, local: Endpoint) -> None:
        self._local = local
        self.pending: FakeData | None = None

    @property
    def local(self) -> Endpoint:
        return self._local

    def ready(self) -> bool:
        return self.pending is not None

    def accept(self, deadline: float) -> FakeData:
        assert self.pending is not None
        conn, self.pending = self.pending, None
        return conn

    def close(self) -> None:
        pass


class FakeNetwork:
    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self.clock = Clock()
        self.listener: FakeListener | None = None
        self.connects: list[tuple[str, int]] = []
        self._next_port = 40000

    def now(self) -> float:
        return self.clock.t

    def wall(self) -> float:
        return 1_700_000_000.0 + self.clock.t

    def _ephemeral(self) -> int:
        self._next_port += 1
        return self._next_port

    def connect(self, ip: str, port: int, deadline: float, *,
                source_ip: str | None = None) -> FakeControl | FakeData:
        s = self.script
        self.connects.append((ip, port))
        local = Endpoint(s.client_ip, self._ephemeral())
        if port == s.control_port and ip == s.server_ip:
            return FakeControl(self, local, Endpoint(ip, port))
        if ip != s.server_ip and ip != s.pasv_host:
            raise ConnectFailed("unreachable", "Network is unreachable")
        if port != s.pasv_port:
            raise ConnectFailed("refused", "connection refused (RST)")
        if s.data == "refused":
            raise ConnectFailed("refused", "connection refused (RST)")
        if s.data == "timeout":
            self.clock.jump(deadline)
            raise ConnectFailed("timeout", "no answer to the SYN in time")
        if s.data == "unreachable":
            raise ConnectFailed("unreachable", "Network is unreachable")
        return FakeData(self, local, Endpoint(ip, port), s.listing)

    def listen(self, ip: str, port: int) -> FakeListener:
        self.listener = FakeListener(Endpoint(ip, port or self._ephemeral()))
        return self.listener

    def wait(self, items: Sequence[Waitable], deadline: float) -> list[Waitable]:
        ready = [i for i in items if i.ready()]
        if not ready:
            self.clock.jump(deadline)
        return ready

    def answer(self, verb: str, arg: str) -> bytes:
        s = self.script
        if verb == "USER":
            return b"331 Please specify the password.\r\n" if s.login.startswith(b"230") \
                else s.login
        if verb == "PASS":
            return s.login
        if verb == "PASV":
            h = s.pasv_host.replace(".", ",")
            return (f"227 Entering Passive Mode ({h},{s.pasv_port >> 8},"
                    f"{s.pasv_port & 255}).\r\n").encode()
        if verb == "EPSV":
            return f"229 Entering Extended Passive Mode (|||{s.pasv_port}|)\r\n".encode()
        if verb in ("PORT", "EPRT"):
            return s.port_reply
        if verb in ("LIST", "NLST", "RETR", "STOR"):
            if self.listener is not None:  # active mode
                if s.active == "connect":
                    self.listener.pending = FakeData(self, self.listener.local,
                                                     Endpoint(*s.active_source), s.listing)
                    return b"150 Here comes the directory listing.\r\n226 Directory send OK.\r\n"
                if s.active == "fail":
                    return b"425 Failed to establish connection.\r\n"
                return b""
            return b"150 Here comes the directory listing.\r\n226 Directory send OK.\r\n"
        if verb == "TYPE":
            return b"200 Switching to Binary mode.\r\n"
        if verb == "QUIT":
            return b"221 Goodbye.\r\n"
        return b"502 Command not implemented.\r\n"
