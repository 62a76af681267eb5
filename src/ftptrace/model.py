"""The immutable `Trace`: what live probes and capture replays both produce.

Diagnosis and rendering accept nothing else, so a rule written against a replay works
unchanged on a live probe. Everything here is a frozen value; builders live in `trace.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

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


# -- fast construction -------------------------------------------------------------------
# A frozen dataclass's generated `__init__` stores every field through
# `object.__setattr__` (a global and an attribute lookup, then a generic attribute write),
# and keyword arguments are parsed on every call: ~0.7 µs for a FrameRef, ~1.1 µs for a
# Reply. A replay builds hundreds of thousands of them (a FrameRef and a Reply for nearly
# every control line), so the builders use the `make_*` functions below instead.
#
# Each fills a *twin*: a plain class with exactly the same `__slots__` (hence the same
# memory layout), whose slots are written with ordinary specialised attribute stores; the
# object then becomes the model class by `__class__` assignment. CPython only allows that
# assignment between layout-compatible classes (same slots, no `__dict__`), so a twin
# that drifted from its class would raise TypeError rather than build a broken object.
# The result is an ordinary instance of the model class: equal to, and hashing like, one
# built by the constructor, immutable, usable with `dataclasses.replace()`
# (tests/test_model.py checks every field of every `make_*` against the constructor).
# Nothing is validated here, as the dataclass constructor validates nothing either.

_new: Any = object.__new__


def slot_twin(cls: type) -> Any:
    """A mutable class with `cls`'s slots, to fill an object that then becomes a `cls`
    (the `make_*` functions here, `diagnose.findings.make_finding`)."""
    return type(f"_{cls.__name__}Twin", (), {"__slots__": cls.__dict__["__slots__"]})


_FRAME_REF = slot_twin(FrameRef)
_REPLY = slot_twin(Reply)
_COMMAND = slot_twin(Command)
_RST = slot_twin(Rst)
_ICMP_REPORT = slot_twin(IcmpReport)
_CONNECTION = slot_twin(Connection)
_DATA_CHANNEL = slot_twin(DataChannel)
_SESSION = slot_twin(Session)
_TRACE = slot_twin(Trace)


def make_frame_ref(capture: str, frame: int) -> FrameRef:
    """`FrameRef(capture=capture, frame=frame)`, faster (see above)."""
    o = _new(_FRAME_REF)
    o.capture = capture
    o.frame = frame
    o.__class__ = FrameRef
    made: FrameRef = o
    return made


def make_reply(code: int, text: str, ts: float, ref: FrameRef) -> Reply:
    """`Reply(code=code, text=text, ts=ts, ref=ref)`, faster (see above)."""
    o = _new(_REPLY)
    o.code = code
    o.text = text
    o.ts = ts
    o.ref = ref
    o.__class__ = Reply
    made: Reply = o
    return made


def make_command(
    ts: float, ref: FrameRef, verb: str, arg: str | None, replies: tuple[Reply, ...]
) -> Command:
    """`Command(...)` with the same arguments, faster (see above)."""
    o = _new(_COMMAND)
    o.ts = ts
    o.ref = ref
    o.verb = verb
    o.arg = arg
    o.replies = replies
    o.__class__ = Command
    made: Command = o
    return made


def make_rst(
    ref: FrameRef, sender: str, ttl: int, ip_id: int | None, from_peer: bool | None
) -> Rst:
    """`Rst(...)` with the same arguments, faster (see above)."""
    o = _new(_RST)
    o.ref = ref
    o.sender = sender
    o.ttl = ttl
    o.ip_id = ip_id
    o.from_peer = from_peer
    o.__class__ = Rst
    made: Rst = o
    return made


def make_icmp_report(ref: FrameRef, sender: str, kind: str, ttl: int) -> IcmpReport:
    """`IcmpReport(...)` with the same arguments, faster (see above)."""
    o = _new(_ICMP_REPORT)
    o.ref = ref
    o.sender = sender
    o.kind = kind
    o.ttl = ttl
    o.__class__ = IcmpReport
    made: IcmpReport = o
    return made


def make_connection(
    *,
    orig: Endpoint,
    resp: Endpoint,
    first_ts: float,
    last_ts: float,
    syn: FrameRef | None,
    syn_count: int,
    syn_ttl: int | None,
    synack: FrameRef | None,
    synack_ttl: int | None,
    established: bool,
    rst: Rst | None,
    icmp: IcmpReport | None,
    bytes_orig: int,
    bytes_resp: int,
    saw_payload: bool,
) -> Connection:
    """`Connection(...)` with the same arguments, faster (see above)."""
    o = _new(_CONNECTION)
    o.orig = orig
    o.resp = resp
    o.first_ts = first_ts
    o.last_ts = last_ts
    o.syn = syn
    o.syn_count = syn_count
    o.syn_ttl = syn_ttl
    o.synack = synack
    o.synack_ttl = synack_ttl
    o.established = established
    o.rst = rst
    o.icmp = icmp
    o.bytes_orig = bytes_orig
    o.bytes_resp = bytes_resp
    o.saw_payload = saw_payload
    o.__class__ = Connection
    made: Connection = o
    return made


def make_data_channel(
    *,
    via: str,
    passive: bool,
    announced_ip: str | None,
    announced_port: int,
    announced_ref: FrameRef,
    announce_reply: Reply | None,
    expected: Expected,
    command: Command | None,
    outcome: Outcome,
    inferred: bool,
    connection: Connection | None,
    matched_by: str | None,
) -> DataChannel:
    """`DataChannel(...)` with the same arguments, faster (see above)."""
    o = _new(_DATA_CHANNEL)
    o.via = via
    o.passive = passive
    o.announced_ip = announced_ip
    o.announced_port = announced_port
    o.announced_ref = announced_ref
    o.announce_reply = announce_reply
    o.expected = expected
    o.command = command
    o.outcome = outcome
    o.inferred = inferred
    o.connection = connection
    o.matched_by = matched_by
    o.__class__ = DataChannel
    made: DataChannel = o
    return made


def make_session(
    *,
    capture: str,
    client: Endpoint,
    server: Endpoint,
    control: Connection,
    user: str | None,
    tls: bool,
    banner: str | None,
    login_ok: bool | None,
    commands: tuple[Command, ...],
    data_channels: tuple[DataChannel, ...],
    anomalies: tuple[tuple[FrameRef, str, str], ...],
    server_ttl: int | None,
    client_ttl: int | None,
) -> Session:
    """`Session(...)` with the same arguments, faster (see above)."""
    o = _new(_SESSION)
    o.capture = capture
    o.client = client
    o.server = server
    o.control = control
    o.user = user
    o.tls = tls
    o.banner = banner
    o.login_ok = login_ok
    o.commands = commands
    o.data_channels = data_channels
    o.anomalies = anomalies
    o.server_ttl = server_ttl
    o.client_ttl = client_ttl
    o.__class__ = Session
    made: Session = o
    return made


def make_trace(
    captures: tuple[CaptureInfo, ...],
    sessions: tuple[Session, ...],
    control_attempts: tuple[Connection, ...] = (),
    warnings: tuple[str, ...] = (),
) -> Trace:
    """`Trace(...)` with the same arguments, faster (see above): the diagnosis wraps every
    session in a one-session Trace for its rules."""
    o = _new(_TRACE)
    o.captures = captures
    o.sessions = sessions
    o.control_attempts = control_attempts
    o.warnings = warnings
    o.__class__ = Trace
    made: Trace = o
    return made
