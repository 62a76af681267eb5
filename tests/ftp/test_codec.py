"""Tests for ftptrace.ftp.codec: line grammar, address forms, masking."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ftptrace.errors import ProtocolViolation
from ftptrace.ftp import codec

ports = st.integers(min_value=0, max_value=65535)
v4 = st.ip_addresses(v=4).map(str)
v6 = st.ip_addresses(v=6).map(str)
any_ip = st.one_of(v4, v6)
delims = st.integers(min_value=33, max_value=126).map(chr)
arg_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=60
)
verbs = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=16
)


# ---- command lines (RFC 959 §5.3.1, §4.1) ----------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"USER anonymous\r\n", ("USER", "anonymous")),
        (b"user anonymous\n", ("USER", "anonymous")),  # bare LF, lower case
        (b"NOOP\r\n", ("NOOP", None)),
        (b"NOOP", ("NOOP", None)),
        (b"CWD \r\n", ("CWD", "")),
        (b"STOR my file.txt\r\n", ("STOR", "my file.txt")),
        (b"TYPE A N\r\n", ("TYPE", "A N")),
        (b"\xff\xf4\xff\xf2ABOR\r\n", ("ABOR", None)),  # IAC IP IAC DM (RFC 959 §4.1.3)
        (b"\xff\xfb\x01NOOP\r\n", ("NOOP", None)),  # IAC WILL ECHO
        (b"\xff\xfa\x18\x01\xff\xf0NOOP\r\n", ("NOOP", None)),  # IAC SB ... IAC SE
        (b"CWD a\xff\xffb\r\n", ("CWD", "a\xffb")),  # IAC IAC = 0xFF, not UTF-8 -> latin-1
        ("CWD Ünïcödé\r\n".encode(), ("CWD", "Ünïcödé")),  # RFC 2640
        (b"CWD caf\xe9\r\n", ("CWD", "caf\xe9")),  # legacy latin-1
    ],
)
def test_parse_command_line(line: bytes, expected: tuple[str, str | None]) -> None:
    assert codec.parse_command_line(line) == expected


@pytest.mark.parametrize(
    "line", [b"", b"\r\n", b" USER x\r\n", b"12 x\r\n", b"US-ER x", b"A" * 17, b"\x16\x03\x01"]
)
def test_parse_command_line_rejects(line: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        codec.parse_command_line(line)


def test_parse_command_line_error_never_quotes_the_line() -> None:
    with pytest.raises(ProtocolViolation) as info:
        codec.parse_command_line(b"PASS\tsup3rsecret\r\n")
    assert "sup3rsecret" not in str(info.value)


@given(verbs, st.none() | arg_text)
def test_command_round_trip(verb: str, arg: str | None) -> None:
    line = codec.format_command(verb, arg)
    assert line.endswith(b"\r\n") and line.count(b"\n") == 1
    assert codec.parse_command_line(line) == (verb.upper(), arg)


@pytest.mark.parametrize(("verb", "arg"), [("", None), ("CWD", "a\r\nDELE b"), ("X Y", None)])
def test_format_command_rejects(verb: str, arg: str | None) -> None:
    with pytest.raises(ProtocolViolation):
        codec.format_command(verb, arg)


@given(st.binary(max_size=300))
def test_parse_command_line_total(data: bytes) -> None:
    try:
        verb, _ = codec.parse_command_line(data)
    except ProtocolViolation:
        return
    assert verb.isalpha() and verb.isupper()


# ---- reply lines (RFC 959 §4.2) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            b"227 Entering Passive Mode (192,168,1,2,195,80).\r\n",
            (227, False, "Entering Passive Mode (192,168,1,2,195,80)."),
        ),
        (b"211-Features:\r\n", (211, True, "Features:")),
        (b"211 End\n", (211, False, "End")),
        (b"200\r\n", (200, False, "")),
        (b"631 base64==\r\n", (631, False, "base64==")),  # RFC 2228 protected reply
    ],
)
def test_parse_reply_line(line: bytes, expected: tuple[int, bool, str]) -> None:
    assert tuple(codec.parse_reply_line(line)) == expected


@pytest.mark.parametrize("line", [b" MDTM\r\n", b"2000 x\r\n", b"099 x\r\n", b"hello", b"", b"20"])
def test_parse_reply_line_rejects(line: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        codec.parse_reply_line(line)


@given(st.binary(max_size=300))
def test_parse_reply_line_total(data: bytes) -> None:
    try:
        r = codec.parse_reply_line(data)
    except ProtocolViolation:
        return
    assert 100 <= r.code <= 699


def test_format_reply_multiline_pads_digit_lines() -> None:
    assert codec.format_reply(211, "Features:\n MDTM\n211 trap\nEnd") == (
        b"211-Features:\r\n MDTM\r\n 211 trap\r\n211 End\r\n"
    )
    assert codec.format_reply(200, "OK") == b"200 OK\r\n"
    with pytest.raises(ProtocolViolation):
        codec.format_reply(99, "x")


# ---- address forms ---------------------------------------------------------------------------


@given(v4, ports)
def test_port_round_trip(host: str, port: int) -> None:
    assert codec.parse_port(codec.format_port(host, port)) == (host, port)


@given(v4, ports)
def test_pasv_round_trip(host: str, port: int) -> None:
    assert codec.parse_pasv_reply(codec.format_pasv_reply(host, port)) == (host, port)


@given(any_ip, ports, delims)
def test_eprt_round_trip_any_delimiter(host: str, port: int, d: str) -> None:
    af = "1" if ":" not in host else "2"
    if any(d in f for f in (af, host, str(port))):
        with pytest.raises(ProtocolViolation):
            codec.format_eprt(host, port, d)
        return
    arg = codec.format_eprt(host, port, d)
    assert arg[0] == d and arg[-1] == d
    assert codec.parse_eprt(arg) == (host, port)


@given(any_ip, ports)
def test_eprt_round_trip_pipe(host: str, port: int) -> None:
    assert codec.parse_eprt(codec.format_eprt(host, port)) == (host, port)


@given(ports, delims)
def test_epsv_round_trip_any_delimiter(port: int, d: str) -> None:
    if d.isdigit():
        with pytest.raises(ProtocolViolation):
            codec.format_epsv_reply(port, d)
        return
    assert codec.parse_epsv_reply(codec.format_epsv_reply(port, d)) == (None, port)


@given(any_ip, ports)
def test_lprt_and_lpsv_round_trip(host: str, port: int) -> None:
    assert codec.parse_lprt(codec.format_lprt(host, port)) == (host, port)
    assert codec.parse_lpsv_reply(codec.format_lpsv_reply(host, port)) == (host, port)


@given(st.integers(min_value=0, max_value=2**128 - 1), ports)
def test_hosts_come_back_canonical(n: int, port: int) -> None:
    ip = ipaddress.IPv6Address(n)
    exploded = ip.exploded  # a non-canonical spelling
    assert codec.parse_eprt(f"|2|{exploded}|{port}|") == (ip.compressed, port)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Entering Passive Mode (192,168,1,2,195,80).", ("192.168.1.2", 50000)),  # vsftpd 3.0.3
        ("Entering Passive Mode (10,0,0,1,200,10)", ("10.0.0.1", 51210)),  # pure-ftpd
        ("Entering Passive Mode (127,0,0,1,195,149)", ("127.0.0.1", 50069)),  # FileZilla
        ("Entering Passive Mode 192,168,1,2,195,80", ("192.168.1.2", 50000)),  # no parens
        ("=192,168,001,002,195,80", ("192.168.1.2", 50000)),  # leading zeros
        ("Passive (1,2) mode (192, 168, 1, 2, 4, 1)", ("192.168.1.2", 1025)),  # spaces, decoy
    ],
)
def test_pasv_reply_real_servers(text: str, expected: tuple[str, int]) -> None:
    assert codec.parse_pasv_reply(text) == expected


@pytest.mark.parametrize(
    ("text", "port"),
    [
        ("Entering Extended Passive Mode (|||50000|)", 50000),  # vsftpd, proftpd
        ("Entering Extended Passive Mode (!!!1025!)", 1025),
        ("Extended Passive mode OK (|||0|)", 0),
        ("EPSV ok |||2121|", 2121),
    ],
)
def test_epsv_reply(text: str, port: int) -> None:
    assert codec.parse_epsv_reply(text) == (None, port)


def test_lpsv_reply_real_form() -> None:
    text = "Entering Long Passive Mode (4,4,192,168,1,2,2,195,80)"
    assert codec.parse_lpsv_reply(text) == ("192.168.1.2", 50000)
    v6 = "(6,16,32,1,13,184,0,0,0,0,0,0,0,0,0,0,0,1,2,0,21)"
    assert codec.parse_lprt(v6.strip("()")) == ("2001:db8::1", 21)


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (codec.parse_port, "192,168,1,256,1,1"),  # octet > 255
        (codec.parse_port, "192,168,1,2,1"),  # wrong count
        (codec.parse_port, "192,168,1,2,1,1,1"),
        (codec.parse_port, "192,168,1,2,1,-1"),
        (codec.parse_port, "1000,1,1,1,1,1"),
        (codec.parse_port, ""),
        (codec.parse_pasv_reply, "Entering Passive Mode (192,168,1,2,300,80)"),
        (codec.parse_pasv_reply, "Entering Passive Mode"),
        (codec.parse_pasv_reply, "Entering Passive Mode (192,168,1,2,195)"),
        (codec.parse_eprt, "|1|192.168.1.2|65536|"),  # port > 65535
        (codec.parse_eprt, "|3|192.168.1.2|21|"),  # unknown af (server says 522)
        (codec.parse_eprt, "|1|::1|21|"),  # af/addr mismatch
        (codec.parse_eprt, "|2|10.0.0.1|21|"),
        (codec.parse_eprt, "|1|192.168.1.2|21"),  # missing closing delimiter
        (codec.parse_eprt, "|1|192.168.1.2|21|x"),
        (codec.parse_eprt, "|1|192.168.1.256|21|"),
        (codec.parse_eprt, "\x7f1\x7f1.2.3.4\x7f21\x7f"),  # delimiter out of 33..126
        (codec.parse_eprt, " "),
        (codec.parse_epsv_reply, "Entering Extended Passive Mode (|||70000|)"),
        (codec.parse_epsv_reply, "Entering Extended Passive Mode (||50000|)"),
        (codec.parse_epsv_reply, "Entering Extended Passive Mode"),
        (codec.parse_lprt, "4,4,192,168,1,2,2,195"),  # too few port bytes
        (codec.parse_lprt, "4,16,192,168,1,2,2,195,80"),  # hal does not match af
        (codec.parse_lprt, "5,4,192,168,1,2,2,195,80"),
        (codec.parse_lprt, "4,4,192,168,1,2,3,1,195,80"),  # pal 3
        (codec.parse_lpsv_reply, "Entering Long Passive Mode"),
    ],
)
def test_bad_addresses(parse: object, text: str) -> None:
    assert callable(parse)
    with pytest.raises(ProtocolViolation):
        parse(text)


@pytest.mark.parametrize(
    "call",
    [
        lambda: codec.format_port("::1", 21),
        lambda: codec.format_port("1.2.3.4", 65536),
        lambda: codec.format_port("not-an-ip", 21),
        lambda: codec.format_eprt("1.2.3.4", -1),
        lambda: codec.format_eprt("1.2.3.4", 21, "||"),
        lambda: codec.format_eprt("1.2.3.4", 21, " "),
        lambda: codec.format_eprt("1.2.3.4", 21, "."),  # collides with the address
        lambda: codec.format_epsv_reply(21, "7"),
        lambda: codec.format_lprt("1.2.3.4", 70000),
    ],
)
def test_format_rejects(call: object) -> None:
    assert callable(call)
    with pytest.raises(ProtocolViolation):
        call()


parsers = st.sampled_from(
    [
        codec.parse_port,
        codec.parse_pasv_reply,
        codec.parse_eprt,
        codec.parse_epsv_reply,
        codec.parse_lprt,
        codec.parse_lpsv_reply,
    ]
)
numberish = st.text(alphabet="0123456789,|()! .:abcdef-", max_size=80)


@given(parsers, st.text(max_size=200) | numberish)
def test_address_parsers_raise_only_protocol_violation(parse: object, text: str) -> None:
    assert callable(parse)
    try:
        host, port = parse(text)
    except ProtocolViolation:
        return
    assert 0 <= port <= 65535
    assert host is None or ipaddress.ip_address(host).compressed == host


# ---- masking -----------------------------------------------------------------------------


@given(st.sampled_from(["PASS", "pass", "ACCT", "ADAT"]), arg_text)
def test_secrets_masked_without_length(verb: str, secret: str) -> None:
    assert codec.mask_argument(verb, secret) == "****"


@pytest.mark.parametrize(
    ("verb", "arg", "shown"),
    [
        ("AUTH", "TLS", "TLS"),
        ("AUTH", "ssl", "ssl"),
        ("AUTH", "TLS-C", "TLS-C"),
        ("AUTH", "TLS-P", "TLS-P"),
        ("AUTH", "GSSAPI", "****"),
        ("AUTH", "hunter2", "****"),
        ("USER", "anonymous", "anonymous"),
        ("PASS", None, None),
        ("CWD", "/pub", "/pub"),
    ],
)
def test_mask_argument(verb: str, arg: str | None, shown: str | None) -> None:
    assert codec.mask_argument(verb, arg) == shown


def test_strip_telnet_and_looks_binary() -> None:
    assert codec.strip_telnet(b"\xff\xff\xff") == b"\xff"
    assert codec.strip_telnet(b"a\xff\xfa\x18unterminated") == b"a"
    assert codec.looks_binary(b"\x16\x03\x01\x02\x00\x01\x00")
    assert not codec.looks_binary(b"STOR a\tb\r\x00c\r\n")
    assert not codec.looks_binary(b"\xff\xfb\x01NOOP\r\n")


@given(st.binary(max_size=200))
def test_decode_text_total(data: bytes) -> None:
    assume(data)
    assert isinstance(codec.decode_text(data), str)
