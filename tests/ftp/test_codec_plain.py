"""The codec's fast paths (`plain_command`, `plain_reply`) agree with the full parsers.

The session (`FtpSession._command_line`, `_reply_line`) takes a fast path's answer without
asking `looks_binary` or checking for a blank line, so a fast-path answer is only right
when the slow path would have reached the same parser with the same result.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftptrace.errors import ProtocolViolation
from ftptrace.ftp import codec, session

# Bytes that sit on the edges of the fast paths' character classes and of the slow path's
# binary test: TAB, CR, LF, NUL, Telnet IAC, DEL, space, '-', digits, letters, UTF-8.
_EDGE_BYTES = [b"\t", b"\r", b"\n", b"\x00", b"\xff", b"\x7f", b"\x1b", b" ", b"-", b"~"]
_PIECES = st.one_of(
    st.sampled_from(_EDGE_BYTES),
    st.sampled_from([b"USER", b"pasv", b"RETR", b"220", b"227", b"550", b"099", b"700", b"A" * 16,
                     b"A" * 17, b"\r\x00", b"\xff\xff", b"\xff\xf4", "é".encode(), b"\xe9"]),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8).map(
        str.encode
    ),
    st.text(max_size=4).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.binary(max_size=3),
)
textish = st.lists(_PIECES, max_size=10).map(b"".join)
"""Lines that look like FTP text, with the odd byte in them."""

_HEADS = st.one_of(
    st.sampled_from([b"USER ", b"pasv", b"RETR ", b"Noop", b"227 ", b"220-", b"550", b"099 "]),
    st.integers(0, 999).map(lambda n: b"%d" % n) | st.sampled_from([b"", b" ", b"-"]),
)
lines = st.one_of(
    st.binary(max_size=40),
    textish,
    st.tuples(_HEADS, textish, st.sampled_from([b"", b"\r", b"\r\r"])).map(b"".join),
    st.tuples(
        _HEADS,
        st.text(alphabet="\t !-~abcXYZ019(),.|", max_size=12).map(str.encode),
        st.sampled_from([b"", b"\r", b"\r\r", b"\x00", b"\xff", "é".encode()]),
    ).map(b"".join),
)
"""Any bytes; text-like bytes; and lines that start like a command or a reply."""


def _command_slow(line: bytes) -> tuple[str, str | None] | None:
    """What `FtpSession._command_line` does without the fast path: None when it would not
    reach `parse_command_line` (blank or binary) or when that raises."""
    if not line.strip(b"\r \t") or codec.looks_binary(line):
        return None
    try:
        return codec.parse_command_line(line)
    except ProtocolViolation:
        return None


def _reply_slow(line: bytes) -> codec.ReplyLine | None:
    if not line.strip(b"\r \t") or codec.looks_binary(line):
        return None
    try:
        return codec.parse_reply_line(line)
    except ProtocolViolation:
        return None


@given(line=lines)
@settings(max_examples=500, deadline=None, derandomize=True)
def test_plain_command_is_none_or_the_slow_result(line: bytes) -> None:
    fast = codec.plain_command(line)
    if fast is None:
        return
    assert not codec.looks_binary(line)
    assert line.strip(b"\r \t")
    assert fast == codec.parse_command_line(line)
    assert fast == _command_slow(line)


@given(line=lines)
@settings(max_examples=500, deadline=None, derandomize=True)
def test_plain_reply_is_none_or_the_slow_result(line: bytes) -> None:
    fast = codec.plain_reply(line)
    if fast is None:
        return
    assert not codec.looks_binary(line)
    assert line.strip(b"\r \t")
    slow = codec.parse_reply_line(line)
    code, more, text = fast
    assert (code, more, text) == (slow.code, slow.more, slow.text)
    assert type(code) is int and type(more) is bool and type(text) is str
    assert fast == _reply_slow(line)


_PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.just("\t"),
                     max_size=30)
_VERB = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1,
                max_size=16)


@given(verb=_VERB, arg=st.none() | _PRINTABLE, cr=st.booleans())
@settings(max_examples=150, deadline=None, derandomize=True)
def test_plain_command_takes_every_printable_command(
    verb: str, arg: str | None, cr: bool
) -> None:
    """Not only sound but used: every printable-ASCII command line takes the fast path."""
    line = (verb if arg is None else f"{verb} {arg}").encode() + (b"\r" if cr else b"")
    fast = codec.plain_command(line)
    assert fast is not None
    assert fast == codec.parse_command_line(line) == (verb.upper(), arg)


@given(code=st.integers(100, 699), sep=st.sampled_from(["", " ", "-"]), text=_PRINTABLE,
       cr=st.booleans())
@settings(max_examples=150, deadline=None, derandomize=True)
def test_plain_reply_takes_every_printable_reply(code: int, sep: str, text: str, cr: bool) -> None:
    body = text if sep else ""
    line = f"{code}{sep}{body}".encode() + (b"\r" if cr else b"")
    fast = codec.plain_reply(line)
    assert fast is not None
    assert fast == codec.parse_reply_line(line) == (code, sep == "-", body)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"USER anonymous", ("USER", "anonymous")),
        (b"PASV", ("PASV", None)),
        (b"pasv\r", ("PASV", None)),
        (b"RETR a b\r", ("RETR", "a b")),
        (b"CWD \r", ("CWD", "")),
        (b"STOR x\ty", ("STOR", "x\ty")),
    ],
)
def test_typical_commands_take_the_fast_path(
    line: bytes, expected: tuple[str, str | None]
) -> None:
    assert codec.plain_command(line) == expected
    assert codec.parse_command_line(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"227 Entering Passive Mode (1,2,3,4,5,6).",
         (227, False, "Entering Passive Mode (1,2,3,4,5,6).")),
        (b"220-multi", (220, True, "multi")),
        (b"220 ready\r", (220, False, "ready")),
        (b"226", (226, False, "")),
        (b"211-", (211, True, "")),
        (b"631 \r", (631, False, "")),
    ],
)
def test_typical_replies_take_the_fast_path(line: bytes, expected: tuple[int, bool, str]) -> None:
    assert codec.plain_reply(line) == expected
    assert codec.parse_reply_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"\r",
        b" USER x",
        b"USER\tx",  # no space after the verb: the slow path judges it
        b"A" * 17,
        b"USER a\r\r",
        b"USER \xff\xf4x",  # Telnet
        "CWD Ünïcödé".encode(),  # UTF-8
        b"CWD a\x00b",
        b"CWD a\x7f",
        b"\x16\x03\x01\x02\x00",  # TLS record
    ],
)
def test_unusual_commands_leave_the_fast_path(line: bytes) -> None:
    assert codec.plain_command(line) is None


@pytest.mark.parametrize(
    "line",
    [b"", b"099 x", b"700 x", b"2200", b"220_x", b"220 \xff\xf4", "220 é".encode(), b"220 a\x00",
     b" 220 x", b"220 x\r\r"],
)
def test_unusual_replies_leave_the_fast_path(line: bytes) -> None:
    assert codec.plain_reply(line) is None


# -- the line splitter's fast path (session._Lines.feed) ------------------------------------


def _split_lines(chunks: list[bytes]) -> list[tuple[bytes, bool]]:
    lines = session._Lines()
    return [out for chunk in chunks for out in lines.feed(chunk)]


@given(
    data=st.lists(
        st.sampled_from([b"\n", b"\r\n", b"USER x", b"a" * 9, b"", b"\xff", b"b" * 4000]),
        max_size=12,
    ).map(b"".join),
    cuts=st.lists(st.integers(0, 20_000), max_size=4),
)
@settings(max_examples=300, deadline=None, derandomize=True)
def test_lines_fast_path_equals_split_feeding(data: bytes, cuts: list[int]) -> None:
    """Whole segments take `_Lines.feed`'s one-line shortcut when they can; the same bytes
    fed in pieces (a piece without LF first, so the buffer is not empty) take the general
    loop. Lines and cut flags must not depend on the split (MAX_LINE is 8192).

    Empty data is its own test below."""
    if not data:
        return
    bounds = sorted({c for c in cuts if c < len(data)} | {0, len(data)})
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]
    assert _split_lines([data]) == _split_lines(pieces) == _split_lines([bytes([b]) for b in data])


@pytest.mark.parametrize(
    "data",
    [b"USER x\r\n", b"\n", b"a" * session.MAX_LINE + b"\n", b"a" * (session.MAX_LINE + 1) + b"\n",
     b"one\ntwo\n", b"no end"],
    ids=["line", "lf", "max-line", "max-line+1", "two-lines", "no-lf"],
)
def test_lines_one_segment(data: bytes) -> None:
    want = _split_lines([bytes([b]) for b in data])
    assert session._Lines().feed(data) == want


def test_lines_feed_of_nothing_is_no_line() -> None:
    assert session._Lines().feed(b"") == []


# -- a whole segment with its LF (FtpSession's one-line shortcut) -----------------------------


@given(line=lines)
@settings(max_examples=500, deadline=None, derandomize=True)
def test_fast_paths_take_a_line_with_or_without_its_lf(line: bytes) -> None:
    """`FtpSession` hands a one-line segment over with its LF, `_Lines` hands lines over
    without: the answer must not change, and a segment of more than one line gets None."""
    if b"\n" in line:
        assert codec.plain_command(line + b"\n") is None
        assert codec.plain_reply(line + b"\n") is None
        return
    assert codec.plain_command(line + b"\n") == codec.plain_command(line)
    assert codec.plain_reply(line + b"\n") == codec.plain_reply(line)


# -- the six-number address forms (PORT, 227) ------------------------------------------------

_NUMBERS = st.lists(
    st.one_of(
        st.integers(0, 999).map(str),
        st.sampled_from(["", " 1", "1 ", "\t2", "0001", "+1", "-1", "1_0", "٣", "256", "00"]),
    ),
    min_size=1,
    max_size=8,
).map(",".join)


def _outcome(parse: Callable[[str], tuple[str | None, int]], text: str) -> object:
    try:
        return parse(text)
    except ProtocolViolation as exc:
        return str(exc)


@given(text=_NUMBERS)
@settings(max_examples=500, deadline=None, derandomize=True)
def test_plain_six_is_none_or_the_full_result(text: str) -> None:
    """The shortcut takes only what `_six` would accept, with the same answer."""
    fast = codec._plain_six(text)
    if fast is not None:
        assert fast == codec._six(text.split(","))
    assert _outcome(codec.parse_port, text) == _outcome(lambda t: codec._six(t.split(",")), text)


@given(prefix=st.sampled_from(["", "Entering Passive Mode (", "=", "1,2 then ", "9,9,9,9,9,999 "]),
       text=_NUMBERS, suffix=st.sampled_from(["", ").", " 7,8", ")"]))
@settings(max_examples=500, deadline=None, derandomize=True)
def test_pasv_reply_same_as_scanning_every_run(prefix: str, text: str, suffix: str) -> None:
    """The 227 shortcut parses the run `_scan` tries first, or leaves it all to `_scan`."""
    reply = prefix + text + suffix
    assert _outcome(codec.parse_pasv_reply, reply) == _outcome(
        lambda t: codec._scan(t, codec._six), reply
    )


def test_usual_six_number_forms_take_the_shortcut() -> None:
    assert codec._plain_six("192,168,1,2,195,80") == ("192.168.1.2", 50000)
    assert codec._plain_six("0,0,0,0,0,0") == ("0.0.0.0", 0)
    assert codec._plain_six("1,2,3,4,5,256") is None  # the full path says which field
    assert codec._plain_six("1, 2,3,4,5,6") is None
