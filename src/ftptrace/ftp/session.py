"""Sans-IO FTP control-connection state: bytes in, past-tense events out.

`FtpSession.receive` is fed each direction's bytes as they were seen (a capture replay) or
sent/received (the live probe feeds its own sent bytes as TO_SERVER and the socket's bytes as
TO_CLIENT). Bytes may be split anywhere; the events do not depend on the split.

A misbehaving peer never raises: it becomes an `Anomaly` with a stable `kind`. Every buffer
is bounded, so memory stays bounded whatever the input.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from types import MappingProxyType

from ftptrace.errors import ProtocolViolation
from ftptrace.ftp import codec
from ftptrace.ftp.events import (
    Anomaly,
    CommandSent,
    DataChannelAnnounced,
    Direction,
    Event,
    ReplyReceived,
    TlsStarted,
)

MAX_LINE = 8192
"""Longest line kept; longer ones are cut there and the rest up to LF dropped."""
MAX_REPLY_LINES = 1000
MAX_REPLY_BYTES = 64 * 1024
MAX_PENDING = 10_000
_MAX_SECRETS = 4
_MIN_SECRET = 3
_LF = 0x0A
_MAX_SEGMENT = MAX_LINE + 1
"""Longest segment that can be one whole line: MAX_LINE bytes and the LF."""


# ---- RFC 959 §5.4 command-reply sequences, as data ------------------------------------
# 421/500/501/502/530 may answer almost any command (§5.4 lists them nearly everywhere;
# 502 = not implemented, 530 = not logged in), so they are allowed for every verb.
ALWAYS_ALLOWED = frozenset({421, 500, 501, 502, 530})
_TRANSFER = (110, 125, 150, 226, 250, 425, 426, 450, 451, 452, 532, 534, 550, 551, 552, 553)
_TABLE: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("USER", (230, 331, 332)),
    ("PASS", (202, 230, 332, 503)),
    ("ACCT", (202, 230, 503)),
    ("CWD XCWD CDUP XCUP", (200, 250, 550)),  # CDUP: 200 in §5.4, most servers say 250
    ("SMNT", (202, 250, 550)),
    ("REIN", (120, 220)),
    ("QUIT", (221,)),
    ("PORT NOOP", (200,)),
    ("PASV", (227,)),
    ("TYPE STRU MODE", (200, 504)),
    ("RETR STOR STOU APPE LIST NLST MLSD", _TRANSFER),
    ("ALLO", (200, 202, 504)),
    ("REST", (350,)),
    ("RNFR", (350, 450, 550)),
    ("RNTO", (250, 503, 532, 553)),
    ("ABOR", (225, 226)),
    ("DELE", (250, 450, 550)),
    ("RMD XRMD", (250, 550)),
    ("MKD XMKD PWD XPWD", (257, 550)),
    ("SITE", (200, 202, 214, 250, 550)),
    ("SYST", (215,)),
    ("STAT", (211, 212, 213, 450)),
    ("HELP", (211, 214)),
    ("FEAT", (211,)),  # RFC 2389 §3
    ("OPTS", (200, 451)),  # RFC 2389 §4
    ("EPRT", (200, 522)),  # RFC 2428 §2
    ("EPSV", (200, 229, 522)),  # RFC 2428 §3 (200 answers EPSV ALL)
    ("LPRT", (200, 521)),  # RFC 1639 §2
    ("LPSV", (228,)),
    ("AUTH", (234, 334, 431, 504, 534)),  # RFC 2228 §4, RFC 4217 §4
    ("ADAT", (235, 335, 503, 535)),
    ("PBSZ", (200, 503)),
    ("PROT", (200, 431, 503, 504, 534, 536)),
    ("CCC", (200, 533, 534)),
    ("SIZE MDTM", (213, 550)),  # RFC 3659 §3-4
    ("MLST", (250, 550)),
)
REPLY_CODES: Mapping[str, frozenset[int]] = MappingProxyType(
    {verb: frozenset(codes) for verbs, codes in _TABLE for verb in verbs.split()}
)
"""Final and preliminary codes each verb may get besides ALWAYS_ALLOWED; unknown verbs: any."""
_ALLOWED: dict[str, frozenset[int]] = {
    verb: codes | ALWAYS_ALLOWED for verb, codes in REPLY_CODES.items()
}
"""REPLY_CODES with ALWAYS_ALLOWED folded in: one set test per reply."""

_PASSIVE: Mapping[str, tuple[int, Callable[[str], tuple[str | None, int]]]] = {
    "PASV": (227, codec.parse_pasv_reply),  # RFC 959 §4.1.2
    "EPSV": (229, codec.parse_epsv_reply),  # RFC 2428 §3
    "LPSV": (228, codec.parse_lpsv_reply),  # RFC 1639 §2
}
_ACTIVE: Mapping[str, Callable[[str], tuple[str | None, int]]] = {
    "PORT": codec.parse_port,  # RFC 959 §4.1.2
    "EPRT": codec.parse_eprt,  # RFC 2428 §2
    "LPRT": codec.parse_lprt,  # RFC 1639 §2
}
_LOGIN_VERBS = frozenset({"USER", "PASS", "ACCT"})
_STATE_CODES = frozenset({230, 530, 234} | {code for code, _ in _PASSIVE.values()})
"""The only replies that change the session beyond matching: login (230/530), TLS (234)
and the passive announcements (227/228/229); every other reply skips those tests."""
_new_event = tuple.__new__
"""`_new_event(CommandSent, (ts, frame, ...))` is `CommandSent(ts, frame, ...)` without the
NamedTuple's Python-level `__new__`: one call less for the event built per control line."""


class _Lines:
    """Splits one direction's byte stream into lines, bounded by MAX_LINE.

    `buf` holds the start of an unfinished line; `discarding` is True while the rest of a
    cut line is dropped. Both empty: the next segment starts a line (`FtpSession`'s
    one-line shortcut needs that).
    """

    __slots__ = ("buf", "discarding")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.discarding = False

    def feed(self, data: bytes) -> list[tuple[bytes, bool]]:
        """Complete lines (without LF) and whether each was cut at MAX_LINE."""
        buf = self.buf
        if not buf and not self.discarding and 0 <= data.find(b"\n") == len(data) - 1 <= MAX_LINE:
            return [(data[:-1], False)]  # the usual segment: exactly one whole line
        buf += data
        out: list[tuple[bytes, bool]] = []
        start = 0
        while True:
            if self.discarding:
                nl = buf.find(b"\n", start)
                if nl < 0:
                    start = len(buf)
                    break
                start, self.discarding = nl + 1, False
                continue
            nl = buf.find(b"\n", start, start + MAX_LINE + 1)
            if nl >= 0:
                out.append((bytes(buf[start:nl]), False))
                start = nl + 1
            elif len(buf) - start > MAX_LINE:
                out.append((bytes(buf[start : start + MAX_LINE]), True))
                start += MAX_LINE
                self.discarding = True
            else:
                break
        del buf[:start]
        return out

    def clear(self) -> None:
        self.buf.clear()


class FtpSession:
    """One FTP control connection, seen from the side (sans-IO, RFC 959)."""

    def __init__(self) -> None:
        self._client_lines = _Lines()
        self._server_lines = _Lines()
        self._binary_reported: set[Direction] = set()
        self._pending: deque[CommandSent | None] = deque()
        self._pending_overflow = False
        self._seq = 0
        self._greeted = False
        self._secrets: deque[str] = deque(maxlen=_MAX_SECRETS)
        self._longest_first: tuple[str, ...] = ()
        """`_secrets` as `_scrub` applies them, sorted when a secret is added, not per line."""
        # multi-line reply in progress (RFC 959 §4.2)
        self._ml_code: int | None = None
        self._ml_lines: list[str] = []
        self._ml_bytes = 0
        self._ml_cut = False
        self._tls = False
        self._user: str | None = None
        self._login_ok: bool | None = None
        self._banner: str | None = None

    @property
    def tls(self) -> bool:
        """AUTH TLS/SSL was accepted: the rest of the control stream is opaque (RFC 4217 §4)."""
        return self._tls

    @property
    def user(self) -> str | None:
        return self._user

    @property
    def login_ok(self) -> bool | None:
        """True after 230 to USER/PASS/ACCT, False after 530 to one of them, else None."""
        return self._login_ok

    @property
    def banner(self) -> str | None:
        """Text of the 220 greeting."""
        return self._banner

    @property
    def pending(self) -> tuple[CommandSent | None, ...]:
        """Commands still awaiting a final reply, oldest first (None: an unparsable line)."""
        return tuple(self._pending)

    def receive(self, direction: Direction, data: bytes, ts: float, frame: int) -> list[Event]:
        """Feed bytes seen in one direction; return the events they complete."""
        if direction == Direction.TO_SERVER:
            return self.from_client(data, ts, frame)
        return self.from_server(data, ts, frame)

    def from_client(self, data: bytes, ts: float, frame: int) -> list[Event]:
        """`receive(Direction.TO_SERVER, ...)`, for a caller that knows the direction
        already (a capture replay does, per stream): no per-segment direction test."""
        out: list[Event] = []
        if self._tls or not data:
            return out
        lines = self._client_lines
        if data[-1] == _LF and not lines.buf and not lines.discarding and len(data) <= _MAX_SEGMENT:
            # The usual segment: one whole printable command line. `plain_command` matches
            # only a single line, so `_Lines` need not split it.
            plain = codec.plain_command(data)
            if plain is not None:
                self._command(plain[0], plain[1], ts, frame, out)
                return out
        # Only a reply (234) starts TLS, so a command line never ends the loop early.
        for line, cut in lines.feed(data):
            if cut:
                self._note(
                    out, ts, frame, "line-too-long", f"command line over {MAX_LINE} bytes cut"
                )
            self._command_line(line, ts, frame, out)
        return out

    def from_server(self, data: bytes, ts: float, frame: int) -> list[Event]:
        """`receive(Direction.TO_CLIENT, ...)`: bytes the server sent."""
        out: list[Event] = []
        if self._tls or not data:
            return out
        lines = self._server_lines
        if (
            data[-1] == _LF
            and self._ml_code is None
            and not lines.buf
            and not lines.discarding
            and len(data) <= _MAX_SEGMENT
        ):
            # The usual segment: one whole printable one-line reply (as in `from_client`).
            reply = codec.plain_reply(data)
            if reply is not None:
                code, more, text = reply
                if not more:  # else a multi-line reply starts: `_reply_line` collects it
                    self._reply(code, text, ts, frame, out)
                    return out
        for line, cut in lines.feed(data):
            if cut:
                self._note(out, ts, frame, "line-too-long", f"reply line over {MAX_LINE} bytes cut")
            self._reply_line(line, ts, frame, out)
            if self._tls:  # RFC 4217 §4: what follows the 234 is TLS, not FTP
                break
        return out

    # ---- helpers --------------------------------------------------------------------

    def _note(self, out: list[Event], ts: float, frame: int, kind: str, detail: str) -> None:
        out.append(Anomaly(ts=ts, frame=frame, kind=kind, detail=self._scrub(detail)))

    def _scrub(self, text: str) -> str:
        """Some servers echo a command back; never let an echoed secret through.

        Longest first, so a secret that contains another is not left half shown.
        """
        for s in self._longest_first:
            text = text.replace(s, codec.MASK)
        return text

    def _remember_secret(self, arg: str) -> None:
        """Keep a PASS/ACCT/ADAT argument for `_scrub`, as typed and stripped: "PASS  pw"
        (two spaces) and a server echoing "pw" must both be caught."""
        for secret in dict.fromkeys((arg, arg.strip())):
            if len(secret) >= _MIN_SECRET and secret not in self._secrets:
                self._secrets.append(secret)
        self._longest_first = tuple(sorted(self._secrets, key=len, reverse=True))

    def _binary(self, direction: Direction, ts: float, frame: int, out: list[Event]) -> None:
        if direction not in self._binary_reported:
            self._binary_reported.add(direction)
            who = "client" if direction == Direction.TO_SERVER else "server"
            self._note(out, ts, frame, "binary-garbage", f"{who} sent binary bytes on control")

    def _push(self, cmd: CommandSent | None, ts: float, frame: int, out: list[Event]) -> None:
        if len(self._pending) >= MAX_PENDING:
            self._pending.popleft()
            if not self._pending_overflow:
                self._pending_overflow = True
                detail = f"over {MAX_PENDING} unanswered commands: oldest dropped"
                self._note(out, ts, frame, "too-many-pending", detail)
        self._pending.append(cmd)

    # ---- client side ----------------------------------------------------------------

    def _command_line(self, line: bytes, ts: float, frame: int, out: list[Event]) -> None:
        plain = codec.plain_command(line)
        if plain is not None:
            self._command(plain[0], plain[1], ts, frame, out)
            return
        if not line.strip(b"\r \t"):
            return
        if codec.looks_binary(line):
            self._binary(Direction.TO_SERVER, ts, frame, out)
            return
        try:
            verb, arg = codec.parse_command_line(line)
        except ProtocolViolation as exc:
            # Details never quote the line: it might be a mangled PASS.
            self._note(out, ts, frame, "bad-command-line", str(exc))
            self._push(None, ts, frame, out)  # the server will still answer it
            return
        self._command(verb, arg, ts, frame, out)

    def _command(self, verb: str, arg: str | None, ts: float, frame: int, out: list[Event]) -> None:
        """One parsed command line: mask it, queue it for its replies, note an address.

        Runs once per command of a capture, so `mask_argument` is asked only of the verbs
        it can change (`MASKED_VERBS`) and `_push` is inlined for the usual case; `verb` is
        upper-case (both parsers make it so).
        """
        shown = arg
        if arg is not None:
            text = arg
            if verb in codec.MASKED_VERBS:
                if verb in codec.SECRET_VERBS:
                    self._remember_secret(arg)
                masked = codec.mask_argument(verb, arg)
                assert masked is not None  # an argument is masked, never dropped
                text = masked
            if self._longest_first:
                # A password typed again as another command's argument is still the password.
                text = self._scrub(text)
            shown = text
        seq = self._seq
        self._seq = seq + 1
        cmd: CommandSent = _new_event(CommandSent, (ts, frame, verb, shown, seq))
        out.append(cmd)
        pending = self._pending
        if len(pending) >= MAX_PENDING:
            self._push(cmd, ts, frame, out)
        else:
            pending.append(cmd)
        if verb == "USER":
            self._user = shown
        parse = _ACTIVE.get(verb)
        if parse is not None:
            self._announce(parse, arg or "", cmd, None, ts, frame, out)

    def _announce(
        self,
        parse: Callable[[str], tuple[str | None, int]],
        text: str,
        cmd: CommandSent,
        reply: ReplyReceived | None,
        ts: float,
        frame: int,
        out: list[Event],
    ) -> None:
        try:
            host, port = parse(text)
        except ProtocolViolation as exc:
            self._note(out, ts, frame, "bad-address", f"{cmd.verb}: {exc}")
            return
        out.append(
            DataChannelAnnounced(
                ts=ts,
                frame=frame,
                via=cmd.verb,
                passive=reply is not None,
                host=host,
                port=port,
                command=cmd,
                reply=reply,
            )
        )
        if port == 0:
            self._note(out, ts, frame, "port-zero", f"{cmd.verb} announced port 0")

    # ---- server side ----------------------------------------------------------------

    def _reply_line(self, line: bytes, ts: float, frame: int, out: list[Event]) -> None:
        error = ""
        plain = codec.plain_reply(line)
        if plain is not None and self._ml_code is None:
            code, more, text = plain
            if more:
                self._ml_code = code
                self._ml_add(text)
            else:
                self._reply(code, text, ts, frame, out)
            return
        parsed: codec.ReplyLine | None
        if plain is not None:
            parsed = codec.ReplyLine(*plain)
        else:
            try:
                parsed = codec.parse_reply_line(line)
            except ProtocolViolation as exc:
                parsed, error = None, str(exc)
        if self._ml_code is not None:  # inside a multi-line reply (RFC 959 §4.2)
            if parsed is not None and parsed.code == self._ml_code and not parsed.more:
                self._ml_add(parsed.text)
                text = "\n".join(self._ml_lines)
                cut = self._ml_cut
                self._ml_code, self._ml_lines, self._ml_bytes, self._ml_cut = None, [], 0, False
                self._reply(parsed.code, text, ts, frame, out)
                if cut:
                    detail = f"{parsed.code} reply over {MAX_REPLY_LINES} lines or 64 KiB cut"
                    self._note(out, ts, frame, "reply-too-long", detail)
            elif parsed is not None and parsed.code == self._ml_code:
                self._ml_add(parsed.text)
            else:
                self._ml_add(codec.decode_text(line))
            return
        if not line.strip(b"\r \t"):
            self._note(out, ts, frame, "bad-reply-line", "empty line from server")
            return
        if codec.looks_binary(line):
            self._binary(Direction.TO_CLIENT, ts, frame, out)
            return
        if parsed is None:
            text = self._scrub(codec.decode_text(line))[:80]
            self._note(out, ts, frame, "bad-reply-line", f"{error}: {text!r}")
            return
        if parsed.more:
            self._ml_code = parsed.code
            self._ml_add(parsed.text)
        else:
            self._reply(parsed.code, parsed.text, ts, frame, out)

    def _ml_add(self, text: str) -> None:
        size = len(text) + 1
        if (
            self._ml_cut
            or len(self._ml_lines) >= MAX_REPLY_LINES
            or (self._ml_bytes + size > MAX_REPLY_BYTES)
        ):
            self._ml_cut = True
            return
        self._ml_lines.append(text)
        self._ml_bytes += size

    def _reply(self, code: int, text: str, ts: float, frame: int, out: list[Event]) -> None:
        """One complete reply: scrub it, match it to the command it answers, note what
        that makes of the session (login, an announced data channel, TLS).

        The command answered is the oldest pending one (FIFO), checked against REPLY_CODES;
        1yz replies leave it pending, 2yz-5yz end it (RFC 959 §4.2.1, §5.4). This runs once
        per reply of a capture, hence the matching written out here.
        """
        if self._longest_first:
            text = self._scrub(text)
        if not self._greeted:
            if code in (120, 220, 421):  # the greeting, or its 120 delay note (§5.4)
                self._greeted = code != 120
                out.append(_new_event(ReplyReceived, (ts, frame, code, text, None)))
                if code == 220:
                    self._banner = text
                return
            self._greeted = True  # the capture began after the greeting
        pending = self._pending
        if not pending:
            out.append(_new_event(ReplyReceived, (ts, frame, code, text, None)))
            if code != 421:  # 421 may come at any time (RFC 959 §4.2.1, §5.4)
                detail = f"{code} reply with no command pending"
                self._note(out, ts, frame, "unexpected-reply", detail)
            return
        cmd = pending[0]
        if not 100 <= code < 200:
            pending.popleft()
        reply: ReplyReceived = _new_event(ReplyReceived, (ts, frame, code, text, cmd))
        out.append(reply)
        if cmd is None:  # an unparsable command line: any reply fits
            return
        verb = cmd.verb
        allowed = _ALLOWED.get(verb)
        if allowed is not None and code not in allowed:
            detail = f"{code} is not a reply RFC 959 §5.4 allows to {verb}"
            self._note(out, ts, frame, "unexpected-reply", detail)
        if code not in _STATE_CODES:
            return
        if verb in _LOGIN_VERBS and code in (230, 530):
            self._login_ok = code == 230
        passive = _PASSIVE.get(verb)
        if passive is not None and passive[0] == code:
            self._announce(passive[1], text, cmd, reply, ts, frame, out)
        if (
            verb == "AUTH"
            and code == 234
            and cmd.arg is not None
            and cmd.arg.strip().upper() in codec.AUTH_MECHANISMS
        ):
            self._tls = True
            self._pending.clear()
            self._client_lines.clear()
            self._server_lines.clear()
            self._ml_code, self._ml_lines = None, []
            out.append(TlsStarted(ts=ts, frame=frame))
