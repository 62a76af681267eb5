"""Tests for ftptrace.ftp.session.FtpSession: matching, announcements, bounds, TLS, masking."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from ftptrace.ftp import session as sess
from ftptrace.ftp.events import (
    Anomaly,
    CommandSent,
    DataChannelAnnounced,
    Direction,
    Event,
    ReplyReceived,
    TlsStarted,
)
from ftptrace.ftp.session import FtpSession

C = Direction.TO_SERVER  # client -> server
S = Direction.TO_CLIENT  # server -> client
Transcript = Sequence[tuple[Direction, bytes]]


def run(transcript: Transcript, session: FtpSession | None = None) -> list[Event]:
    s = session if session is not None else FtpSession()
    out: list[Event] = []
    for i, (d, data) in enumerate(transcript):
        out += s.receive(d, data, float(i), i + 1)
    return out


def of(events: list[Event], kind: type) -> list:  # type: ignore[type-arg]
    return [e for e in events if isinstance(e, kind)]


def anomalies(events: list[Event]) -> list[str]:
    return [e.kind for e in events if isinstance(e, Anomaly)]


VSFTPD: Transcript = [
    (S, b"220 (vsFTPd 3.0.3)\r\n"),
    (C, b"USER anonymous\r\n"),
    (S, b"331 Please specify the password.\r\n"),
    (C, b"PASS hunter2secret\r\n"),
    (S, b"230 Login successful.\r\n"),
    (C, b"PASV\r\n"),
    (S, b"227 Entering Passive Mode (192,168,1,2,195,80).\r\n"),
    (C, b"LIST\r\n"),
    (S, b"150 Here comes the directory listing.\r\n"),
    (S, b"226 Directory send OK.\r\n"),
    (C, b"EPSV\r\n"),
    (S, b"229 Entering Extended Passive Mode (|||50001|)\r\n"),
    (C, b"RETR test.jpg\r\n"),
    (S, b"425 Failed to establish connection.\r\n"),
    (C, b"QUIT\r\n"),
    (S, b"221 Goodbye.\r\n"),
]


def test_vsftpd_session() -> None:
    s = FtpSession()
    ev = run(VSFTPD, s)
    assert anomalies(ev) == []
    assert s.banner == "(vsFTPd 3.0.3)" and s.user == "anonymous" and s.login_ok is True
    replies = of(ev, ReplyReceived)
    answered = [(r.code, r.command.verb if r.command else None) for r in replies]
    assert answered == [
        (220, None),
        (331, "USER"),
        (230, "PASS"),
        (227, "PASV"),
        (150, "LIST"),
        (226, "LIST"),
        (229, "EPSV"),
        (425, "RETR"),
        (221, "QUIT"),
    ]
    cmds = of(ev, CommandSent)
    assert [c.seq for c in cmds] == list(range(7))
    assert cmds[1].arg == "****"
    pasv, epsv = of(ev, DataChannelAnnounced)
    assert (pasv.via, pasv.passive, pasv.host, pasv.port) == ("PASV", True, "192.168.1.2", 50000)
    assert pasv.command is cmds[2] and pasv.reply is replies[3]
    assert pasv.frame == 7 and pasv.ts == 6.0
    assert (epsv.via, epsv.host, epsv.port) == ("EPSV", None, 50001)
    assert ev.index(pasv) == ev.index(replies[3]) + 1
    assert s.pending == ()


def test_pure_ftpd_and_pipelined_commands() -> None:
    ev = run(
        [
            (
                S,
                b"220---------- Welcome to Pure-FTPd [privsep] [TLS] ----------\r\n"
                b"220-You are user number 1 of 50 allowed.\r\n"
                b"220 You will be disconnected after 15 minutes of inactivity.\r\n",
            ),
            (C, b"USER ftp\r\nPASS x\r\nPASV\r\n"),
            (
                S,
                b"331 Any password will work\r\n230 Any password will work\r\n"
                b"227 Entering Passive Mode (10,0,0,1,200,10)\r\n",
            ),
        ]
    )
    assert anomalies(ev) == []
    greeting = of(ev, ReplyReceived)[0]
    assert greeting.command is None
    assert greeting.text.splitlines() == [
        "--------- Welcome to Pure-FTPd [privsep] [TLS] ----------",
        "You are user number 1 of 50 allowed.",
        "You will be disconnected after 15 minutes of inactivity.",
    ]
    (a,) = of(ev, DataChannelAnnounced)
    assert (a.host, a.port) == ("10.0.0.1", 51210)


def test_proftpd_feat_multiline() -> None:
    ev = run(
        [
            (S, b"220 ProFTPD Server (Debian) [::ffff:10.0.0.2]\r\n"),
            (C, b"FEAT\r\n"),
            (S, b"211-Features:\r\n MDTM\r\n SIZE\r\n EPSV\r\n"),
            (S, b" UTF8\r\n211 End\r\n"),
            (C, b"NOOP\r\n"),
            (S, b"200 NOOP command successful\r\n"),
        ]
    )
    assert anomalies(ev) == []
    feat, noop = of(ev, ReplyReceived)[1:]
    assert feat.code == 211 and feat.command is not None and feat.command.verb == "FEAT"
    assert feat.text == "Features:\n MDTM\n SIZE\n EPSV\n UTF8\nEnd"
    assert feat.frame == 4  # the segment that completed it
    assert noop.command is not None and noop.command.verb == "NOOP"


def test_filezilla_greeting_and_banner() -> None:
    s = FtpSession()
    ev = run(
        [
            (
                S,
                b"220-FileZilla Server 0.9.60 beta\r\n220-written by Tim Kosse\r\n"
                b"220 Please visit https://filezilla-project.org/\r\n",
            ),
            (C, b"USER bob\r\n"),
            (S, b"331 Password required for bob\r\n"),
            (C, b"PASS wrongpass\r\n"),
            (S, b"530 Login or password incorrect!\r\n"),
        ],
        s,
    )
    assert anomalies(ev) == []
    assert s.banner == (
        "FileZilla Server 0.9.60 beta\nwritten by Tim Kosse\nPlease visit https://filezilla-project.org/"
    )
    assert s.login_ok is False


def test_120_then_220_greeting() -> None:
    s = FtpSession()
    ev = run([(S, b"120 Ready in 5 minutes.\r\n"), (S, b"220 Ready.\r\n")], s)
    assert [(r.code, r.command) for r in of(ev, ReplyReceived)] == [(120, None), (220, None)]
    assert s.banner == "Ready." and anomalies(ev) == []


def test_active_modes_announce_at_command_time() -> None:
    ev = run(
        [
            (S, b"220 x\r\n"),
            (C, b"PORT 192,168,1,2,7,138\r\n"),
            (S, b"500 Illegal PORT command.\r\n"),
            (C, b"EPRT |2|2001:DB8:0::1|5282|\r\n"),
            (S, b"200 EPRT command successful.\r\n"),
            (C, b"LPRT 4,4,10,0,0,9,2,4,1\r\n"),
            (S, b"200 ok\r\n"),
            (C, b"LPSV\r\n"),
            (S, b"228 Entering Long Passive Mode (4,4,10,0,0,1,2,195,80)\r\n"),
        ]
    )
    assert anomalies(ev) == []
    ann = of(ev, DataChannelAnnounced)
    got = [(a.via, a.passive, a.host, a.port, a.reply is None) for a in ann]
    assert got == [
        ("PORT", False, "192.168.1.2", 1930, True),
        ("EPRT", False, "2001:db8::1", 5282, True),
        ("LPRT", False, "10.0.0.9", 1025, True),
        ("LPSV", True, "10.0.0.1", 50000, False),
    ]
    # the announce follows its command; the 500 is matched to the PORT that caused it
    assert ev.index(ann[0]) == ev.index(ann[0].command) + 1
    illegal = of(ev, ReplyReceived)[1]
    assert illegal.code == 500 and illegal.command is ann[0].command


def test_malformed_addresses_become_anomalies() -> None:
    ev = run(
        [
            (S, b"220 x\r\n"),
            (C, b"PASV\r\n"),
            (S, b"227 Entering Passive Mode (192,168,1,300,195,80).\r\n"),
            (C, b"PORT 1,2,3\r\n"),
            (S, b"200 ok\r\n"),
            (C, b"EPSV\r\n"),
            (S, b"229 Entering Extended Passive Mode\r\n"),
            (C, b"PASV\r\n"),
            (S, b"227 Entering Passive Mode (0,0,0,0,0,0)\r\n"),
        ]
    )
    assert of(ev, DataChannelAnnounced)[0].port == 0
    assert len(of(ev, DataChannelAnnounced)) == 1
    assert anomalies(ev) == ["bad-address", "bad-address", "bad-address", "port-zero"]
    assert len(of(ev, ReplyReceived)) == 5  # replies still reported


def test_unexpected_and_unsolicited_replies() -> None:
    ev = run(
        [
            (S, b"220 x\r\n"),
            (C, b"CWD /pub\r\n"),
            (S, b"227 Entering Passive Mode (1,2,3,4,5,6)\r\n"),  # 227 is no answer to CWD
            (S, b"200 nobody asked\r\n"),
            (S, b"421 Timeout.\r\n"),  # may come any time: no anomaly
        ]
    )
    assert anomalies(ev) == ["unexpected-reply", "unexpected-reply"]
    assert of(ev, DataChannelAnnounced) == []
    r = of(ev, ReplyReceived)
    assert r[1].command is not None and r[1].command.verb == "CWD"
    assert r[2].command is None and r[3].command is None


def test_abort_with_telnet_synch() -> None:
    ev = run(
        [
            (S, b"220 x\r\n"),
            (C, b"RETR big\r\n"),
            (S, b"150 Opening BINARY mode data connection\r\n"),
            (C, b"\xff\xf4\xff\xf2ABOR\r\n"),
            (S, b"426 Connection closed; transfer aborted.\r\n226 Abort successful\r\n"),
        ]
    )
    assert anomalies(ev) == []
    assert [(r.code, r.command.verb if r.command else None) for r in of(ev, ReplyReceived)] == [
        (220, None),
        (150, "RETR"),
        (426, "RETR"),
        (226, "ABOR"),
    ]


def test_bad_lines() -> None:
    ev = run(
        [
            (S, b"220 x\r\n"),
            (S, b"hello there\r\n"),
            (S, b"\r\n"),
            (C, b"12345 x\r\n"),  # unparsable: a placeholder keeps FIFO matching right
            (S, b"500 Unknown command.\r\n"),
            (C, b"NOOP\r\n"),
            (S, b"200 ok\r\n"),
        ]
    )
    assert anomalies(ev) == ["bad-reply-line", "bad-reply-line", "bad-command-line"]
    r = of(ev, ReplyReceived)
    assert r[1].command is None
    assert r[2].command is not None and r[2].command.verb == "NOOP"


def test_binary_garbage_reported_once_per_direction() -> None:
    hello = bytes([0x16, 3, 1, 0, 0xA5, 1, 0, 0, 0xA1, 3, 3]) + b"\x00\x01\n\x02\x03\n"
    ev = run([(C, hello), (C, hello), (S, b"\x15\x03\x01\x00\x02\x02\x28\n")])
    assert anomalies(ev) == ["binary-garbage", "binary-garbage"]
    assert of(ev, CommandSent) == []


# ---- TLS (RFC 4217 §4) ----------------------------------------------------------------------


def test_auth_tls_goes_opaque() -> None:
    s = FtpSession()
    ev = run(
        [
            (S, b"220 x\r\n"),
            (C, b"AUTH TLS\r\n"),
            (S, b"234 Proceed with negotiation.\r\n200 this line is already TLS\r\n"),
            (C, b"USER alice\r\nPASS x\r\n"),  # would be encrypted; must be ignored
            (S, b"230 ok\r\n"),
        ],
        s,
    )
    assert s.tls
    assert isinstance(ev[-1], TlsStarted) and ev[-1].frame == 3
    assert [type(e).__name__ for e in ev] == [
        "ReplyReceived",
        "CommandSent",
        "ReplyReceived",
        "TlsStarted",
    ]
    assert s.user is None and s.login_ok is None


def test_auth_refused_or_other_mechanism_stays_clear() -> None:
    for auth, code in ((b"AUTH TLS", b"504"), (b"AUTH GSSAPI", b"334"), (b"AUTH SSL", b"500")):
        s = FtpSession()
        ev = run(
            [(S, b"220 x\r\n"), (C, auth + b"\r\n"), (S, code + b" no\r\n"), (C, b"USER a\r\n")], s
        )
        assert not s.tls and of(ev, TlsStarted) == [] and s.user == "a"


def test_auth_ssl_lower_case() -> None:
    s = FtpSession()
    run([(S, b"220 x\r\n"), (C, b"auth ssl\r\n"), (S, b"234 AUTH SSL ok\r\n")], s)
    assert s.tls


# ---- masking ------------------------------------------------------------------------------


@given(st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=40))
def test_password_never_in_events(tail: str) -> None:
    secret = "S3cr#t" + tail
    enc = secret.encode()
    ev = run(
        [
            (S, b"220 x\r\n"),
            (C, b"USER u\r\n"),
            (S, b"331 pw\r\n"),
            (C, b"PASS " + enc + b"\r\n"),
            (S, b"530 Login incorrect for '" + enc + b"'\r\n"),  # a server that echoes
            (C, b"ACCT " + enc + b"\r\n"),
            (S, b"500 '" + enc + b"' not understood\r\nbad " + enc + b"\r\n"),
            (C, b"PASS " + enc + b"x" * 9000 + b"\r\n"),  # too long, cut
            (C, b"PASS\x00" + enc + b"\r\n"),  # binary
        ]
    )
    assert secret not in repr(ev)
    assert secret not in str(ev)


def test_echo_scrubbed_longest_secret_first_as_secrets_arrive() -> None:
    """`_scrub` applies the secrets longest first, re-sorted as each one arrives: a later,
    longer password that contains an earlier one is masked whole, not as "****-longer"."""
    s = FtpSession()
    ev = run(
        [
            (S, b"220 x\r\n"),
            (C, b"PASS abc\r\n"),
            (S, b"530 no for abc\r\n"),
            (C, b"PASS abc-longer\r\n"),
            (S, b"530 no for abc-longer\r\n"),
            (C, b"CWD /home/abc-longer\r\n"),  # a password typed as another argument
            (S, b"550 /home/abc-longer: no\r\n"),
        ],
        s,
    )
    texts = [r.text for r in of(ev, ReplyReceived)]
    assert texts == ["x", "no for ****", "no for ****", "/home/****: no"]
    assert [c.arg for c in of(ev, CommandSent)] == ["****", "****", "/home/****"]
    assert "abc" not in repr(ev) and "longer" not in repr(ev)


def test_no_secret_no_scrub() -> None:
    """Before any PASS/ACCT nothing is replaced, not even text that looks like the mask."""
    (r,) = of(run([(S, b"220 **** abc\r\n")]), ReplyReceived)
    assert r.text == "**** abc"


def test_one_line_segments_match_the_line_splitter() -> None:
    """A segment that is one whole line skips `_Lines`; the same bytes split before the LF
    (so they go through `_Lines`) give the same events, for every kind of line."""
    segments = [
        b"220 (vsFTPd 3.0.3)\r\n",
        b"USER anonymous\r\n",
        b"331 Please specify the password.\n",  # bare LF (RFC 1123 §4.1.2.13)
        b"PASS guest@\r\n",
        b"230-Welcome\r\n",  # a multi-line reply starts: not a one-line reply
        b"230 guest@ logged in\r\n",
        b"PASV\r\n",
        b"227 Entering Passive Mode (10,0,0,1,4,1).\r\n",
        b"PORT 10,0,0,2,4,2\r\n",
        b"200 PORT ok\r\n",
        b"CWD \xc3\xa9\r\n",  # UTF-8: the full parser
        b"250 ok\r\r\n",
        b"\r\n",
        b"NOOP\r\n",
        b"200 " + b"x" * (sess.MAX_LINE - 4) + b"\n",  # MAX_LINE exactly: not cut
        b"NOOP\r\n",
        b"200 " + b"x" * (sess.MAX_LINE - 3) + b"\n",  # one over: cut
    ]
    a, b = FtpSession(), FtpSession()
    ev_whole: list[Event] = []
    ev_split: list[Event] = []
    for i, seg in enumerate(segments):
        d = C if seg[:1].isalpha() or seg == b"\r\n" else S
        ev_whole += a.receive(d, seg, float(i), i + 1)
        for part in (seg[:-1], seg[-1:]):
            ev_split += b.receive(d, part, float(i), i + 1)
    assert ev_whole == ev_split
    assert [type(e) for e in ev_whole] == [type(e) for e in ev_split]
    assert "line-too-long" in anomalies(ev_whole)
    assert (a.user, a.login_ok, a.banner) == (b.user, b.login_ok, b.banner)


def test_mask_hides_length() -> None:
    a = run([(C, b"PASS a\r\n")])
    b = run([(C, b"PASS a-much-longer-password\r\n")])
    assert a == b


# ---- bounds -------------------------------------------------------------------------------


def test_long_line_cut_and_reported_once() -> None:
    s = FtpSession()
    long_arg = b"a" * 30000
    ev = run([(C, b"CWD " + long_arg[:5000]), (C, long_arg[5000:] + b"\r\nNOOP\r\n")], s)
    assert anomalies(ev) == ["line-too-long"]
    cwd, noop = of(ev, CommandSent)
    assert cwd.arg == "a" * (sess.MAX_LINE - 4) and noop.verb == "NOOP"


def test_buffer_bounded_without_newline() -> None:
    s = FtpSession()
    ev: list[Event] = []
    for i in range(200):
        ev += s.receive(S, b"x" * 10_000, float(i), i)
    assert anomalies(ev) == ["line-too-long", "bad-reply-line"]
    assert all(len(lines.buf) <= sess.MAX_LINE for lines in (s._client_lines, s._server_lines))


def test_exact_max_line_is_not_cut() -> None:
    line = b"CWD " + b"b" * (sess.MAX_LINE - 5) + b"\r"  # MAX_LINE bytes before LF
    ev = run([(C, line), (C, b"\n")])
    assert anomalies(ev) == [] and len(of(ev, CommandSent)) == 1


def test_reply_too_long_lines() -> None:
    body = b"".join(b" line %d\r\n" % i for i in range(1500))
    ev = run(
        [
            (S, b"220 x\r\n"),
            (C, b"HELP\r\n"),
            (S, b"214-Help\r\n" + body + b"214 End\r\n"),
            (C, b"NOOP\r\n"),
            (S, b"200 ok\r\n"),
        ]
    )
    help_reply = of(ev, ReplyReceived)[1]
    assert help_reply.code == 214 and help_reply.text.count("\n") == sess.MAX_REPLY_LINES - 1
    assert anomalies(ev) == ["reply-too-long"]
    assert of(ev, ReplyReceived)[2].command is not None


def test_reply_too_long_bytes() -> None:
    body = (b" " + b"z" * 8000 + b"\r\n") * 20
    ev = run([(S, b"220-hi\r\n" + body + b"220 End\r\n")])
    (r,) = of(ev, ReplyReceived)
    assert len(r.text) <= sess.MAX_REPLY_BYTES and anomalies(ev) == ["reply-too-long"]


def test_pending_bounded() -> None:
    s = FtpSession()
    ev = s.receive(C, b"NOOP\r\n" * (sess.MAX_PENDING + 50), 0.0, 1)
    assert anomalies(ev) == ["too-many-pending"]
    assert len(s.pending) == sess.MAX_PENDING
    assert s.pending[0] is not None and s.pending[0].seq == 50


def test_reply_table_is_data() -> None:
    assert 227 in sess.REPLY_CODES["PASV"] and 229 in sess.REPLY_CODES["EPSV"]
    assert sess.REPLY_CODES["XPWD"] == sess.REPLY_CODES["PWD"]
    assert all(100 <= c <= 699 for codes in sess.REPLY_CODES.values() for c in codes)


# ---- properties -----------------------------------------------------------------------------


def runs(transcript: Transcript) -> list[tuple[Direction, bytes]]:
    """Adjacent messages in the same direction joined: one 'segment' per run."""
    out: list[tuple[Direction, bytes]] = []
    for d, data in transcript:
        if out and out[-1][0] == d:
            out[-1] = (d, out[-1][1] + data)
        else:
            out.append((d, data))
    return out


def feed_split(transcript: Transcript, cuts: list[int]) -> list[Event]:
    s = FtpSession()
    out: list[Event] = []
    for i, (d, data) in enumerate(runs(transcript)):
        points = sorted({c % (len(data) + 1) for c in cuts})
        prev = 0
        for p in [*points, len(data)]:
            out += s.receive(d, data[prev:p], float(i), i)
            prev = p
    return out


TRANSCRIPTS: list[Transcript] = [
    VSFTPD,
    [
        (S, b"220-FileZilla\r\n220 hi\r\n"),
        (C, b"FEAT\r\n"),
        (S, b"211-Features:\n MDTM\n211-REST STREAM\r\n211 End\r\n"),
        (C, b"EPRT |1|10.0.0.1|2000|\r\nPORT 1,2,3,4,5,6\r\nPORT 1,2,3\r\nAUTH TLS\r\n"),
        (S, b"200 a\r\n200 b\r\n500 c\r\nweird\r\n234 go\r\n"),
        (C, b"PASS zzz\r\n"),
    ],
    [(C, b"CWD " + b"q" * 9000 + b"\r\nNOOP\r\n"), (S, b"250 ok\r\n" + b"\x16\x03\x01\n")],
]


@settings(max_examples=300)
@given(st.sampled_from(TRANSCRIPTS), st.lists(st.integers(min_value=0), max_size=12))
def test_any_split_gives_same_events(transcript: Transcript, cuts: list[int]) -> None:
    assert feed_split(transcript, cuts) == feed_split(transcript, [])


def test_byte_at_a_time_gives_same_events() -> None:
    for t in TRANSCRIPTS:
        assert feed_split(t, list(range(10_000))) == feed_split(t, [])


lines = st.sampled_from(
    [
        b"220 hi\r\n",
        b"211-x\r\n",
        b"211 y\r\n",
        b" cont\r\n",
        b"227 (1,2,3,4,5,6)\r\n",
        b"229 (|||7|)\r\n",
        b"USER a\r\n",
        b"PASS b\r\n",
        b"PASV\r\n",
        b"EPSV\r\n",
        b"\r\n",
        b"PORT 1,2,3,4,5,6\n",
        b"AUTH TLS\r\n",
        b"234 ok\r\n",
        b"\xff\xf4",
        b"\x00\n",
        b"150 x\r\n",
    ]
)
segments = st.lists(
    st.tuples(st.sampled_from([C, S]), st.lists(lines, max_size=6).map(b"".join) | st.binary()),
    max_size=20,
)


@settings(max_examples=200)
@given(segments, st.lists(st.integers(min_value=0), max_size=8))
def test_random_transcripts_split_invariant(transcript: Transcript, cuts: list[int]) -> None:
    assert feed_split(transcript, cuts) == feed_split(transcript, [])


@given(st.lists(st.tuples(st.sampled_from([C, S]), st.binary(max_size=500)), max_size=30))
def test_random_bytes_never_raise(transcript: Transcript) -> None:
    ev = run(transcript)
    assert all(
        isinstance(e, Anomaly | CommandSent | ReplyReceived | DataChannelAnnounced | TlsStarted)
        for e in ev
    )
