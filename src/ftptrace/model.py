"""The immutable `Trace`: what live probes and capture replays both produce.

Diagnosis and rendering accept nothing else, so a rule written against a replay works
unchanged on a live probe. Everything here is a frozen value; builders live in `trace.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ftptrace.net.model import Endpoint


@dataclass(frozen=True, slots=True, kw_only=True)
class FrameRef:
    """A frame in a capture (1-based, as Wireshark numbers them); frame 0 = not saved."""

    capture: str
    frame: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureInfo:
    """One packet source: a file, or a live interface."""

    path: str
    vantage: str | None = None
    packets: int = 0
    warnings: tuple[str, ...] = ()


class Outcome(StrEnum):
    """What became of one TCP connection attempt (a data channel or the control connection)."""

    ESTABLISHED = "established"
    REFUSED = "refused"
    UNANSWERED = "unanswered"
    UNREACHABLE = "unreachable"
    NOT_ATTEMPTED = "not_attempted"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rst:
    """A reset that ended a connection attempt, and who sent it."""

    ref: FrameRef
    sender: str
    ttl: int
    ip_id: int | None
    from_peer: bool | None
    """True: the addressed host itself; False: a box on the path (TTL/hop distance differs
    from that host's packets on the control connection); None: no baseline to compare."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IcmpReport:
    """An ICMP error charged to a connection attempt."""

    ref: FrameRef
    sender: str
    kind: str
    ttl: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    """One TCP connection (or attempt) seen in a capture, with its outcome."""

    orig: Endpoint
    resp: Endpoint
    first_ts: float
    last_ts: float
    syn: FrameRef | None
    syn_count: int
    syn_ttl: int | None
    synack: FrameRef | None
    synack_ttl: int | None
    established: bool
    rst: Rst | None
    icmp: IcmpReport | None
    bytes_orig: int
    bytes_resp: int
    saw_payload: bool
    """The connection carried data in this capture even if its handshake was not captured."""

    @property
    def outcome(self) -> Outcome:
        if self.established or self.saw_payload:
            return Outcome.ESTABLISHED
        if self.rst is not None:
            return Outcome.REFUSED
        if self.icmp is not None:
            return Outcome.UNREACHABLE
        if self.syn_count:
            return Outcome.UNANSWERED
        return Outcome.UNKNOWN


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    code: int
    text: str
    ts: float
    ref: FrameRef


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """One command and the replies it drew (preliminary 1yz first, then the final one)."""

    ts: float
    ref: FrameRef
    verb: str
    arg: str | None
    replies: tuple[Reply, ...] = ()

    @property
    def reply(self) -> Reply | None:
        """The final (non-1yz) reply, or the last preliminary one if no final came."""
        for r in self.replies:
            if r.code >= 200:
                return r
        return self.replies[-1] if self.replies else None

    @property
    def text(self) -> str:
        return f"{self.verb} {self.arg}" if self.arg is not None else self.verb


@dataclass(frozen=True, slots=True, kw_only=True)
class Expected:
    """Zeek's expected-connection convention: orig connects to resp_ip:resp_port."""

    orig_ip: str
    resp_ip: str
    resp_port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DataChannel:
    """An announced data channel joined with what the wire shows became of it."""

    via: str
    passive: bool
    announced_ip: str | None
    announced_port: int
    announced_ref: FrameRef
    announce_reply: Reply | None
    """Passive: the 227/229 reply carrying the address; active: the reply to PORT/EPRT."""
    expected: Expected
    command: Command | None
    """The transfer command it served (LIST, RETR …), with its replies."""
    outcome: Outcome
    inferred: bool
    connection: Connection | None
    matched_by: str | None = None
    """"endpoint" (exact expected address), "port" (client ignored the announced address),
    "hosts" (control channel encrypted: recognised by its two hosts alone), or None when no
    connection was matched."""

    @property
    def bytes(self) -> int:
        c = self.connection
        return 0 if c is None else c.bytes_orig + c.bytes_resp

    @property
    def label(self) -> str:
        """What this channel carried, for humans: 'LIST', 'RETR test.jpg', or the mode."""
        return self.command.text if self.command is not None else self.via


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """One FTP control connection and everything that hung off it."""

    capture: str
    client: Endpoint
    server: Endpoint
    control: Connection
    user: str | None
    tls: bool
    banner: str | None
    login_ok: bool | None
    commands: tuple[Command, ...]
    data_channels: tuple[DataChannel, ...]
    anomalies: tuple[tuple[FrameRef, str, str], ...] = ()
    """(where, kind, detail) for protocol oddities the session parser reported."""
    server_ttl: int | None = None
    """TTL/hop limit of the server's control packets as seen here: the baseline for
    telling the server's own answers from a router's."""
    client_ttl: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Trace:
    """Everything one replay or one probe saw: captures, sessions, unmatched attempts."""

    captures: tuple[CaptureInfo, ...]
    sessions: tuple[Session, ...]
    control_attempts: tuple[Connection, ...] = ()
    """Connections to an FTP control port that never became a session (refused, unanswered)."""
    warnings: tuple[str, ...] = field(default=())
