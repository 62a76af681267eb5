"""SessionDraft: what it builds once and shares stays equal to building it afresh.

A transfer command is frozen for its data channel and again for the session's command
list (`DraftCommand.freeze` keeps the result while no reply arrives); the `Reply` of a
227/229 serves both the command and the channel's `announce_reply`.
"""

from __future__ import annotations

from ftptrace.model import CaptureInfo
from ftptrace.net.model import Endpoint
from ftptrace.net.reassembly import ConnState
from ftptrace.session_draft import SessionDraft
from ftptrace.trace import TraceBuilder

CLIENT = Endpoint("203.0.113.10", 40000)
SERVER = Endpoint("198.51.100.2", 21)


def _draft() -> tuple[SessionDraft, list[int]]:
    b = TraceBuilder(CaptureInfo(path="t.pcap"))
    d = SessionDraft(b, ConnState(CLIENT, SERVER, 0.0, 1), server_is_resp=True)
    return d, [1]


def _say(d: SessionDraft, frames: list[int], client: bool, line: bytes) -> None:
    frames[0] += 1
    deliver = d._from_client if client else d._from_server
    deliver(line, float(frames[0]), frames[0])


def test_channel_frozen_before_the_final_reply_then_session() -> None:
    """`trace_live` may freeze a channel while its transfer command still awaits replies;
    the session frozen later must show the replies that came after."""
    d, f = _draft()
    for client, line in [
        (False, b"220 hi\r\n"),
        (True, b"USER anonymous\r\n"),
        (False, b"331 pw\r\n"),
        (True, b"PASS guest@\r\n"),
        (False, b"230 ok\r\n"),
        (True, b"PASV\r\n"),
        (False, b"227 Entering Passive Mode (198,51,100,2,195,80).\r\n"),
        (True, b"RETR f\r\n"),
        (False, b"150 here\r\n"),
    ]:
        _say(d, f, client, line)
    (ch,) = d.channels
    early = d.finish_channel(ch, None, None)
    assert early.command is not None and [r.code for r in early.command.replies] == [150]
    _say(d, f, False, b"226 done\r\n")
    s = d.finish()
    retr = s.commands[-1]
    (late,) = s.data_channels
    assert [r.code for r in retr.replies] == [150, 226]
    assert late.command == retr
    pasv = s.commands[2]
    assert late.announce_reply == pasv.replies[0]
    assert late.announce_reply is not None and late.announce_reply.code == 227
    assert late.announced_ref.frame == late.announce_reply.ref.frame


def test_freeze_is_rebuilt_only_when_replies_change() -> None:
    d, f = _draft()
    _say(d, f, False, b"220 hi\r\n")
    _say(d, f, True, b"NOOP\r\n")
    (cmd,) = d.commands
    first = cmd.freeze(d.builder)
    assert cmd.freeze(d.builder) is first and first.replies == ()
    _say(d, f, False, b"200 ok\r\n")
    second = cmd.freeze(d.builder)
    assert [r.code for r in second.replies] == [200]
    assert (second.ts, second.ref, second.verb, second.arg) == (
        first.ts,
        first.ref,
        first.verb,
        first.arg,
    )
