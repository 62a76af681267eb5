"""Past-tense facts the sans-IO FTP session emits (compare h11's events, mitmproxy's events).

Every event carries `ts` (seconds since the epoch) and `frame` (the capture frame that
completed it, 0 when live). Credentials never reach an event: `CommandSent.arg` is already
masked for PASS/ACCT/ADAT (see `ftp.codec.mask_argument`).

Events are immutable `NamedTuple`s rather than frozen dataclasses: a replay builds one or
two per control segment, and a frozen dataclass's `__init__` (one `object.__setattr__` per
field) cost about four times as much as a tuple. Read fields by name; equality is a
tuple's, so compare events of one type only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Direction(StrEnum):
    """Which way bytes flow on the control connection."""

    TO_SERVER = "to_server"
    TO_CLIENT = "to_client"


class CommandSent(NamedTuple):
    """The client sent one command line (RFC 959 §4.1, §5.3.1).

    `seq` is the position of this command in the session (0-based), so replies can point
    back at it.
    """

    ts: float
    frame: int
    verb: str
    arg: str | None
    seq: int


class ReplyReceived(NamedTuple):
    """The server sent one complete reply, multi-line replies joined (RFC 959 §4.2).

    `command` is the command this reply answers, or None (the 220 greeting, or an
    unsolicited reply).
    """

    ts: float
    frame: int
    code: int
    text: str
    command: CommandSent | None

    @property
    def preliminary(self) -> bool:
        """1yz replies precede a final reply to the same command (RFC 959 §4.2.1)."""
        return 100 <= self.code < 200


class DataChannelAnnounced(NamedTuple):
    """A data endpoint was announced: PASV/EPSV/LPSV by the server, PORT/EPRT/LPRT by the client.

    `host` is the announced address in canonical text form (ipaddress compressed), None
    when the form carries none (EPSV, RFC 2428 §3). `reply` is the reply that carried it
    (passive); for active forms it is None and the command itself carried it.
    """

    ts: float
    frame: int
    via: str
    passive: bool
    host: str | None
    port: int
    command: CommandSent
    reply: ReplyReceived | None


class TlsStarted(NamedTuple):
    """AUTH TLS/SSL was accepted (234, RFC 4217 §4): from here the control stream is opaque."""

    ts: float
    frame: int


class Anomaly(NamedTuple):
    """Something a well-behaved peer would not send; reported, never raised."""

    ts: float
    frame: int
    kind: str
    detail: str


Event = CommandSent | ReplyReceived | DataChannelAnnounced | TlsStarted | Anomaly
