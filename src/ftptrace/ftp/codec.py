"""Pure parse/format of FTP control lines and data-channel address forms.

Stdlib only, no state, no I/O. Every parser is total over its input type except for
`ProtocolViolation`: malformed peer text is the normal case on the internet, and the
session turns each violation into an `Anomaly` instead of a crash.

Error messages never quote a command argument, so a malformed `PASS` line cannot leak the
password through an exception text.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from ftptrace.errors import ProtocolViolation

T = TypeVar("T")

MASK = "****"
"""What a secret argument becomes: fixed width, so the secret's length does not leak."""

SECRET_VERBS = frozenset({"PASS", "ACCT", "ADAT"})
AUTH_MECHANISMS = frozenset({"TLS", "SSL", "TLS-C", "TLS-P"})
"""RFC 4217 §4 (TLS), and the older draft names; any other AUTH argument is masked."""
MASKED_VERBS = SECRET_VERBS | {"AUTH"}
"""The only verbs whose argument `mask_argument` may change: any other argument is shown
as is, so a caller may skip the call for them."""

_MAX_VERB = 16
_MAX_PORT = 65535

# Telnet (RFC 854): IAC introduces commands; WILL/WONT/DO/DONT take one option byte,
# SB ... IAC SE brackets a subnegotiation, IAC IAC is a literal 0xFF (RFC 959 §4.1).
_IAC, _SB, _SE, _WILL, _DONT = 255, 250, 240, 251, 254
_CONTROL = bytes(b for b in range(32) if b != 9)


class ReplyLine(NamedTuple):
    """One line that starts with a reply code (RFC 959 §4.2).

    `more` is True for "ddd-text" (a multi-line reply starts, or a coded continuation line),
    False for "ddd text" (or a bare "ddd"), which ends a reply.
    """

    code: int
    more: bool
    text: str


def strip_telnet(data: bytes) -> bytes:
    """Remove Telnet command sequences; the control connection is a Telnet NVT (RFC 959 §4.1).

    Clients send "IAC IP IAC DM" before ABOR (RFC 959 §4.1.3); IAC IAC stands for 0xFF.
    """
    if b"\xff" not in data:
        return data
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b != _IAC:
            out.append(b)
            i += 1
            continue
        if i + 1 >= n:
            break
        c = data[i + 1]
        if c == _IAC:
            out.append(_IAC)
            i += 2
        elif _WILL <= c <= _DONT:
            i += 3
        elif c == _SB:
            end = data.find(bytes((_IAC, _SE)), i + 2)
            i = n if end < 0 else end + 2
        else:
            i += 2
    return bytes(out)


def _strip_eol(line: bytes) -> bytes:
    """Drop the line end: CRLF per RFC 959 §4.1, but a bare LF is tolerated (RFC 1123 §4.1.2.13)."""
    if line.endswith(b"\n"):
        line = line[:-1]
    if line.endswith(b"\r"):
        line = line[:-1]
    return line


def decode_text(line: bytes) -> str:
    """A control line as text: EOL and Telnet commands gone, UTF-8 (RFC 2640 §2.2) else latin-1.

    latin-1 never fails and keeps one character per byte, so legacy 8-bit servers stay legible.
    """
    raw = strip_telnet(_strip_eol(line))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def looks_binary(line: bytes) -> bool:
    """True when a line holds control bytes no FTP text carries (a TLS record, a file...).

    TAB is allowed, and CR NUL, the RFC 2640 §3.1 escape for a CR inside a pathname.
    """
    raw = strip_telnet(_strip_eol(line)).replace(b"\r\x00", b"")
    return len(raw.translate(None, _CONTROL)) != len(raw)


# The line end is optional: the session hands over a line split off by `_Lines` (no LF), or
# a whole segment that is one line with its LF, unsplit (`FtpSession.from_client/_server`).
# Neither character class takes CR or LF, so a match is always exactly one line.
_PLAIN_COMMAND = re.compile(rb"([A-Za-z]{1,16})(?:( )([\t\x20-\x7e]*))?\r?\n?")
_PLAIN_REPLY = re.compile(rb"([1-6][0-9][0-9])(?:([ -])([\t\x20-\x7e]*))?\r?\n?")
_CODE_VALUE = {b"%d" % code: code for code in range(100, 700)}
"""`int(code)` for the three digits `_PLAIN_REPLY` takes ([1-6][0-9][0-9]): a lookup costs
a fraction of parsing the bytes as a number, and `plain_reply` runs for nearly every reply."""


def plain_command(line: bytes) -> tuple[str, str | None] | None:
    """`parse_command_line` for the usual line, printable ASCII: one regex, same result.

    None when the line is anything else (empty, binary, Telnet commands, UTF-8, a bad
    verb); the caller then takes the full path, which judges and reports it. The line may
    end in CRLF, CR, LF or nothing.
    """
    m = _PLAIN_COMMAND.fullmatch(line)
    if m is None:
        return None
    verb, sep, arg = m.groups()
    return verb.decode("ascii").upper(), (arg.decode("ascii") if sep else None)


def plain_reply(line: bytes) -> tuple[int, bool, str] | None:
    """`parse_reply_line` for a printable-ASCII line that is surely not binary; else None.

    The line may end in CRLF, CR, LF or nothing, as for `plain_command`. The result is a
    plain (code, more, text) tuple, equal to the `ReplyLine` the full parser returns: it is
    built for nearly every reply, and a NamedTuple costs twice the whole match.
    """
    m = _PLAIN_REPLY.fullmatch(line)
    if m is None:
        return None
    code, sep, text = m.groups()
    return _CODE_VALUE[code], sep == b"-", text.decode("ascii") if text else ""


def parse_command_line(line: bytes) -> tuple[str, str | None]:
    """Split a command line into (VERB, argument) (RFC 959 §5.3.1).

    The verb is upper-cased (commands are case-insensitive, §5.3); the argument is whatever
    follows the single separating space, None when there is no space.
    """
    text = decode_text(line)
    verb, sep, arg = text.partition(" ")
    if not verb:
        raise ProtocolViolation("empty command line")
    if len(verb) > _MAX_VERB or not (verb.isascii() and verb.isalpha()):
        raise ProtocolViolation("command verb is not 1-16 ASCII letters")
    return verb.upper(), (arg if sep else None)


def format_command(verb: str, arg: str | None = None) -> bytes:
    """One command line with CRLF (RFC 959 §4.1), UTF-8 encoded (RFC 2640 §2.2)."""
    if not verb or len(verb) > _MAX_VERB or not (verb.isascii() and verb.isalpha()):
        raise ProtocolViolation("command verb must be 1-16 ASCII letters")
    line = verb.upper() if arg is None else f"{verb.upper()} {arg}"
    if "\r" in line or "\n" in line:
        raise ProtocolViolation("a command argument cannot contain CR or LF")
    try:
        return line.encode("utf-8") + b"\r\n"
    except UnicodeEncodeError as exc:
        raise ProtocolViolation("command argument is not encodable as UTF-8") from exc


def mask_argument(verb: str, arg: str | None) -> str | None:
    """The argument as it may be shown: secrets become a fixed "****" (never their length).

    PASS/ACCT (RFC 959 §4.1.1) and ADAT (RFC 2228 §3) carry credentials; AUTH keeps the
    well-known mechanism names (RFC 4217 §4) and hides anything else.
    """
    if arg is None:
        return None
    v = verb.upper()
    if v in SECRET_VERBS:
        return MASK
    if v == "AUTH" and arg.strip().upper() not in AUTH_MECHANISMS:
        return MASK
    return arg


_REPLY_RE = re.compile(r"([1-6][0-9][0-9])(?:([ -])(.*))?", re.DOTALL)


def parse_reply_line(line: bytes) -> ReplyLine:
    """Parse a line that starts with a reply code: "ddd text", "ddd-text" (RFC 959 §4.2).

    Reply codes run 1yz..5yz (RFC 959 §4.2.1) and 6yz (RFC 2228 §5). A bare "ddd" is accepted
    as a final line with empty text (some servers omit the text). A line without a code is
    a violation here; only the session knows whether it is a multi-line continuation.
    """
    text = decode_text(line)
    m = _REPLY_RE.fullmatch(text)
    if m is None:
        raise ProtocolViolation("reply line does not start with a 3-digit code and ' ' or '-'")
    return ReplyLine(int(m.group(1)), m.group(2) == "-", m.group(3) or "")


def format_reply(code: int, text: str) -> bytes:
    """A complete reply; several lines become a multi-line reply (RFC 959 §4.2).

    Inner lines that begin with a digit are padded with a space, as §4.2 requires, so they
    cannot be mistaken for the closing line.
    """
    if not 100 <= code <= 699:
        raise ProtocolViolation("reply code must be 100..699")
    if "\r" in text:
        raise ProtocolViolation("reply text cannot contain CR")
    lines = text.split("\n")
    if len(lines) == 1:
        out = [f"{code} {text}"]
    else:
        inner = [(" " + s if s[:1].isdigit() else s) for s in lines[1:-1]]
        out = [f"{code}-{lines[0]}", *inner, f"{code} {lines[-1]}"]
    try:
        return "".join(s + "\r\n" for s in out).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ProtocolViolation("reply text is not encodable as UTF-8") from exc


# ---- address forms ------------------------------------------------------------------


def _byte(s: str) -> int:
    s = s.strip()
    if not (1 <= len(s) <= 3 and s.isascii() and s.isdigit()):
        raise ProtocolViolation("address field is not a 1-3 digit number")
    v = int(s)
    if v > 255:
        raise ProtocolViolation("address field is greater than 255")
    return v


def _port(s: str) -> int:
    if not (1 <= len(s) <= 5 and s.isascii() and s.isdigit()):
        raise ProtocolViolation("port is not a 1-5 digit number")
    v = int(s)
    if v > _MAX_PORT:
        raise ProtocolViolation("port is greater than 65535")
    return v


def _check_port(port: int) -> None:
    if not 0 <= port <= _MAX_PORT:
        raise ProtocolViolation("port must be 0..65535")


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(host)
    except ValueError as exc:
        raise ProtocolViolation("not an IP address") from exc


def _ipv4(host: str) -> ipaddress.IPv4Address:
    ip = _ip(host)
    if not isinstance(ip, ipaddress.IPv4Address):
        raise ProtocolViolation("this form carries only IPv4 addresses")
    return ip


def _six(nums: list[str]) -> tuple[str, int]:
    """h1,h2,h3,h4,p1,p2 -> (host, port) (RFC 959 §4.1.2)."""
    if len(nums) != 6:
        raise ProtocolViolation(f"expected 6 numbers, got {len(nums)}")
    b = [_byte(n) for n in nums]
    return f"{b[0]}.{b[1]}.{b[2]}.{b[3]}", b[4] * 256 + b[5]


_PLAIN_SIX = re.compile(r"[0-9]{1,3}(?:,[0-9]{1,3}){5}")


def _plain_six(text: str) -> tuple[str, int] | None:
    """`_six(text.split(","))` for the form nearly every PORT and 227 uses: six 1-3 digit
    numbers, no blanks. None for anything else, which `_six` then parses or rejects."""
    if _PLAIN_SIX.fullmatch(text) is None:
        return None
    b = [int(n) for n in text.split(",")]
    if max(b) > 255:
        return None
    return f"{b[0]}.{b[1]}.{b[2]}.{b[3]}", b[4] * 256 + b[5]


def _six_text(host: str, port: int) -> str:
    _check_port(port)
    return ",".join([*_octets(_ipv4(host)), str(port >> 8), str(port & 0xFF)])


def _octets(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str]:
    return [str(b) for b in ip.packed]


def parse_port(arg: str) -> tuple[str, int]:
    """PORT h1,h2,h3,h4,p1,p2 (RFC 959 §4.1.2)."""
    plain = _plain_six(arg)
    return plain if plain is not None else _six(arg.split(","))


def format_port(host: str, port: int) -> str:
    """The PORT argument for an IPv4 host and a port (RFC 959 §4.1.2)."""
    return _six_text(host, port)


_RUN = re.compile(r"[0-9]+(?:[ \t]*,[ \t]*[0-9]+)+")


def _scan(text: str, parse: Callable[[list[str]], T]) -> T:
    """Try each comma-separated run of numbers in `text`; the first that parses wins.

    Servers word 227/228 replies freely, with or without parentheses (RFC 1123 §4.1.2.6:
    scan for the numbers rather than trust the layout).
    """
    first: ProtocolViolation | None = None
    for m in _RUN.finditer(text):
        try:
            return parse(m.group(0).split(","))
        except ProtocolViolation as exc:
            first = first or exc
    raise first or ProtocolViolation("no comma-separated address in the reply")


def parse_pasv_reply(text: str) -> tuple[str, int]:
    """The address in a 227 reply's text, wherever the six numbers stand (RFC 1123 §4.1.2.6)."""
    first = _RUN.search(text)  # the run `_scan` tries first
    plain = _plain_six(first.group(0)) if first is not None else None
    return plain if plain is not None else _scan(text, _six)


def format_pasv_reply(host: str, port: int) -> str:
    """227 reply text in the customary form (RFC 959 §4.1.2, §5.4)."""
    return f"Entering Passive Mode ({_six_text(host, port)})."


def _delimiter(d: str) -> str:
    if len(d) != 1 or not 33 <= ord(d) <= 126:
        raise ProtocolViolation("delimiter must be one ASCII character in 33..126")
    return d


def parse_eprt(arg: str) -> tuple[str, int]:
    """EPRT <d><net-prt><d><net-addr><d><tcp-port><d> (RFC 2428 §2); af 1 = IPv4, 2 = IPv6."""
    arg = arg.strip()
    if not arg:
        raise ProtocolViolation("empty EPRT argument")
    d = _delimiter(arg[0])
    parts = arg.split(d)
    if len(parts) != 5 or parts[0] or parts[4]:
        raise ProtocolViolation("EPRT argument is not <d>af<d>addr<d>port<d>")
    af, addr, port = parts[1:4]
    if af == "1":
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = _ipv4(addr)
    elif af == "2":
        ip = _ip(addr)
        if not isinstance(ip, ipaddress.IPv6Address):
            raise ProtocolViolation("EPRT af 2 needs an IPv6 address")
    else:
        raise ProtocolViolation("EPRT network protocol must be 1 or 2 (RFC 2428 §2)")
    return ip.compressed, _port(port)


def format_eprt(host: str, port: int, delimiter: str = "|") -> str:
    """The EPRT argument (RFC 2428 §2); the delimiter must not occur in the fields."""
    _check_port(port)
    d = _delimiter(delimiter)
    ip = _ip(host)
    fields = ["1" if ip.version == 4 else "2", ip.compressed, str(port)]
    if any(d in f for f in fields):
        raise ProtocolViolation("EPRT delimiter occurs inside a field")
    return d + d.join(fields) + d


_EPSV_PAREN = re.compile(r"\(([!-/:-~])\1\1([0-9]+)\1\)")
_EPSV_BARE = re.compile(r"([!-/:-~])\1\1([0-9]+)\1")


def parse_epsv_reply(text: str) -> tuple[None, int]:
    """The port in a 229 reply: "(<d><d><d>port<d>)" with any delimiter (RFC 2428 §3).

    A digit cannot be a delimiter here: it would be indistinguishable from the port.
    """
    m = _EPSV_PAREN.search(text) or _EPSV_BARE.search(text)
    if m is None:
        raise ProtocolViolation("no (<d><d><d>port<d>) in the 229 reply")
    return None, _port(m.group(2))


def format_epsv_reply(port: int, delimiter: str = "|") -> str:
    """229 reply text (RFC 2428 §3)."""
    _check_port(port)
    d = _delimiter(delimiter)
    if d.isdigit():
        raise ProtocolViolation("a 229 delimiter cannot be a digit")
    return f"Entering Extended Passive Mode ({d}{d}{d}{port}{d})"


def _long(nums: list[str]) -> tuple[str, int]:
    """af,hal,h1..hn,pal,p1..pn (RFC 1639 §2): af 4 with 4 bytes, af 6 with 16 bytes."""
    if len(nums) < 3:
        raise ProtocolViolation("long address too short")
    af, hal = _byte(nums[0]), _byte(nums[1])
    if (af, hal) not in ((4, 4), (6, 16)):
        raise ProtocolViolation("long address must be af 4 with 4 bytes or af 6 with 16")
    if len(nums) < 3 + hal:
        raise ProtocolViolation("long address too short")
    pal = _byte(nums[2 + hal])
    if not 1 <= pal <= 2 or len(nums) != 3 + hal + pal:
        raise ProtocolViolation("long address has a wrong number of fields")
    raw = bytes(_byte(n) for n in nums[2 : 2 + hal])
    port = 0
    for n in nums[3 + hal :]:
        port = port * 256 + _byte(n)
    ip = ipaddress.IPv4Address(raw) if af == 4 else ipaddress.IPv6Address(raw)
    return ip.compressed, port


def _long_text(host: str, port: int) -> str:
    _check_port(port)
    ip = _ip(host)
    head = ["4", "4"] if ip.version == 4 else ["6", "16"]
    return ",".join([*head, *_octets(ip), "2", str(port >> 8), str(port & 0xFF)])


def parse_lprt(arg: str) -> tuple[str, int]:
    """LPRT af,hal,h1,...,pal,p1,p2 (RFC 1639 §2)."""
    return _long(arg.split(","))


def format_lprt(host: str, port: int) -> str:
    """The LPRT argument for an IPv4 or IPv6 host (RFC 1639 §2)."""
    return _long_text(host, port)


def parse_lpsv_reply(text: str) -> tuple[str, int]:
    """The address in a 228 reply to LPSV (RFC 1639 §2), found anywhere in the text."""
    return _scan(text, _long)


def format_lpsv_reply(host: str, port: int) -> str:
    """228 reply text (RFC 1639 §2)."""
    return f"Entering Long Passive Mode ({_long_text(host, port)})"
