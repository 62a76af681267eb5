"""Past-tense facts the sans-IO FTP session emits (compare h11's events, mitmproxy's events).

Every event carries `ts` (seconds since the epoch) and `frame` (the capture frame that
completed it, 0 when live). Credentials never reach an event: `CommandSent.arg` is already
masked for PASS/ACCT/ADAT (see `ftp.codec.mask_argument`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Direction(StrEnum):
    """Which way bytes flow on the control connection."""

    TO_SERVER = "to_server"
    TO_CLIENT = "to_client"


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandSent:
    """The client sent one command line (RFC 959 §4.1, §5.3.1)."""

    ts: float
    frame: int
    verb: str
    arg: str | None
    seq: int
    """Position of this command in the session (0-based), so replies can point back at it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyReceived:
    """The server sent one complete reply, multi-line replies joined (RFC 959 §4.2)."""

    ts: float
    frame: int
    code: int
    text: str
    command: CommandSent | None
    """The command this reply answers, or None (the 220 greeting, or an unsolicited reply)."""

    @property
    def preliminary(self) -> bool:
        """1yz replies precede a final reply to the same command (RFC 959 §4.2.1)."""
        return 100 <= self.code < 200


@dataclass(frozen=True, slots=True, kw_only=True)
class DataChannelAnnounced:
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


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsStarted:
    """AUTH TLS/SSL was accepted (234, RFC 4217 §4): from here the control stream is opaque."""

    ts: float
    frame: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Anomaly:
    """Something a well-behaved peer would not send; reported, never raised."""

    ts: float
    frame: int
    kind: str
    detail: str


Event = CommandSent | ReplyReceived | DataChannelAnnounced | TlsStarted | Anomaly
