"""The probe procedures against recorded servers (tests/probe/fakenet.py): no sockets, no sleeps."""

from __future__ import annotations

import json

import pytest

from ftptrace.diagnose.findings import Code, Where
from ftptrace.errors import UsageError
from ftptrace.probe.commands import probe_document
from ftptrace.probe.result import report_lines
from ftptrace.probe.runner import ProbeOptions, parse_command, run_probe
from ftptrace.probe.target import Credentials, Target
from ftptrace.render.json import SCHEMA, dumps

from .fakenet import FakeNetwork, Script

SECRET = "s3cr3t-pw"


def probe(mode: str = "pasv", script: Script | None = None, **kw: object):
    net = FakeNetwork(script)
    s = net.script
    opts = ProbeOptions(mode=mode, target=Target(name=s.server_ip, ip=s.server_ip),
                        creds=Credentials(user="alice", password=SECRET, source="test"),
                        sniff=False, **kw)  # type: ignore[arg-type]
    return run_probe(opts, net), net


def codes(result) -> set[Code]:
    return {f.code for f in result.analysis.findings}


def texts(result) -> list[str]:
    return [line.render() for line in result.report.transcript]


def test_pasv_ok_transcript_reads_like_the_hand_check() -> None:
    result, net = probe(script=Script(pasv_port=50000))
    lines = texts(result)
    assert "→ PASV" in lines
    assert "← 227 Entering Passive Mode (198,51,100,2,195,80)." in lines
    assert "  = 198.51.100.2 port 50000 (195*256+80)" in lines
    assert lines.index("→ PASV") < lines.index("→ LIST")
    assert net.connects[-1] == ("198.51.100.2", 50000)
    a = result.report.attempts[0]
    assert a.socket_result == "established" and a.final_reply == "226 Directory send OK."
    assert a.bytes == len(net.script.listing)
    assert not result.failed
    ch = result.analysis.trace.sessions[0].data_channels[0]
    assert ch.outcome.value == "established" and ch.command is not None
    assert ch.command.verb == "LIST"


def test_password_is_masked_everywhere() -> None:
    result, _ = probe()
    assert "→ PASS ****" in texts(result)
    doc = dumps(probe_document(result))
    assert SECRET not in doc
    assert SECRET not in "\n".join(report_lines(result.report))


def test_json_document_is_the_replay_schema_plus_probe_keys() -> None:
    result, _ = probe()
    doc = json.loads(dumps(probe_document(result)))
    assert doc["schema"] == SCHEMA
    assert {"captures", "sessions", "findings", "probe", "transcript"} <= doc.keys()
    assert doc["probe"]["mode"] == "pasv" and doc["probe"]["privileged"] is False
    assert doc["probe"]["needs_root"], "socket level must say what sudo would add"
    assert doc["sessions"][0]["data_channels"][0]["outcome"] == "established"


def test_private_227_connects_to_the_control_peer_and_says_so() -> None:
    result, net = probe(script=Script(pasv_host="192.168.1.2"))
    assert net.connects[-1] == ("198.51.100.2", 50000)
    assert Code.PASV_PRIVATE_ADDRESS in codes(result)
    assert any("connecting to 198.51.100.2 instead" in t for t in texts(result))
    assert result.report.attempts[0].socket_result == "established"


def test_follow_announced_private_address_is_unreachable() -> None:
    script = Script(pasv_host="192.168.1.2", data="unreachable")
    result, net = probe(script=script, follow_announced=True)
    assert net.connects[-1] == ("192.168.1.2", 50000)
    assert result.report.attempts[0].socket_result == "unreachable"
    assert {Code.PASV_PRIVATE_ADDRESS, Code.DATA_UNREACHABLE} <= codes(result)
    assert result.failed


def test_third_party_address_is_never_followed_without_permission() -> None:
    script = Script(pasv_host="192.0.2.99")
    result, net = probe(script=script, follow_announced=True)
    assert ("192.0.2.99", 50000) not in net.connects
    assert any("FTP bounce" in t for t in texts(result))
    assert Code.PASV_THIRD_PARTY in codes(result)
    result, net = probe(script=Script(pasv_host="192.0.2.99"), follow_announced=True,
                        allow_third_party=True)
    assert net.connects[-1] == ("192.0.2.99", 50000)


def test_silent_data_port_ends_within_the_timeout() -> None:
    result, _ = probe(script=Script(data="timeout"), timeout=2.0)
    a = result.report.attempts[0]
    assert a.socket_result == "timeout"
    assert result.report.seconds <= 2.0 + 1.0
    assert Code.DATA_SYN_UNANSWERED in codes(result)
    assert "→ LIST" not in texts(result), "no transfer command without a data connection"
    f = next(f for f in result.analysis.findings if f.code is Code.DATA_SYN_UNANSWERED)
    assert f.where is Where.SERVER_ROUTER


def test_refused_data_port_without_root_does_not_guess_the_sender() -> None:
    result, _ = probe(script=Script(data="refused"))
    f = next(f for f in result.analysis.findings if f.code is Code.DATA_REFUSED)
    ch = result.analysis.trace.sessions[0].data_channels[0]
    assert ch.connection is not None and ch.connection.rst is not None
    assert ch.connection.rst.from_peer is None
    assert f.where is Where.SERVER_ROUTER
    assert any("who sent a reset" in n for n in result.report.needs_root)


def test_count_repeats_the_data_channel() -> None:
    result, net = probe(count=3)
    assert len(result.report.attempts) == 3
    assert [c for c in net.script.commands if c == "PASV"] == ["PASV"] * 3
    assert len(result.analysis.trace.sessions[0].data_channels) == 3


def test_epsv_connects_to_the_peer() -> None:
    result, net = probe("epsv", Script(pasv_port=50007))
    assert "  = port 50007 on the control connection's address (RFC 2428 §3)" in texts(result)
    assert net.connects[-1] == ("198.51.100.2", 50007)
    assert not result.failed


def test_retr_sets_binary_type() -> None:
    _result, net = probe(command=("RETR", "test.jpg"))
    assert "TYPE I" in net.script.commands and "RETR test.jpg" in net.script.commands


def test_control_refused() -> None:
    s = Script()
    s.control_port = 2121  # the probe dials 21: nothing there in the fake → unreachable
    result, _ = probe(script=s)
    assert codes(result) & {Code.CONTROL_UNREACHABLE, Code.CONTROL_REFUSED}
    assert result.failed and not result.report.attempts


def test_login_failure() -> None:
    result, net = probe(script=Script(login=b"530 Login incorrect.\r\n"))
    assert Code.LOGIN_FAILED in codes(result)
    assert "PASV" not in net.script.commands


def test_silent_control_ends_in_time() -> None:
    result, _ = probe(script=Script(silent_control=True), timeout=1.5)
    assert result.report.seconds <= 1.5 + 1.0
    assert any("no answer within 1.5s" in t for t in texts(result))


# --- active mode ------------------------------------------------------------------------


def test_port_ok_from_port_20() -> None:
    result, net = probe("port")
    assert net.script.commands[2].startswith("PORT 203,0,113,10,")
    a = result.report.attempts[0]
    assert a.socket_result == "accepted" and "198.51.100.2:20" in a.detail
    assert any("= 203.0.113.10 port" in t for t in texts(result))
    assert not result.failed
    ch = result.analysis.trace.sessions[0].data_channels[0]
    assert ch.connection is not None and ch.connection.orig.port == 20


def test_port_from_ephemeral_port_is_reported() -> None:
    result, _ = probe("port", Script(active_source=("198.51.100.2", 33000)))
    assert Code.ACTIVE_SOURCE_PORT_NOT_20 in codes(result)
    assert any("source port not 20" in t for t in texts(result))


def test_port_rejected_behind_nat() -> None:
    s = Script(client_ip="10.0.0.2", port_reply=b"500 Illegal PORT command.\r\n")
    result, net = probe("port", s)
    assert {Code.PORT_REJECTED, Code.PORT_PRIVATE_ADDRESS} <= codes(result)
    a = result.report.attempts[0]
    assert a.socket_result == "rejected" and "no NAT helper" in a.detail
    assert "LIST" not in net.script.commands


def test_port_accepted_but_never_connected() -> None:
    result, _ = probe("port", Script(active="fail"))
    a = result.report.attempts[0]
    assert a.socket_result == "not-accepted" and a.final_reply is not None
    assert a.final_reply.startswith("425")
    assert "outbound" in a.choice
    assert Code.ACTIVE_CONNECT_FAILED in codes(result)
    assert any("reached this host" in n for n in result.report.needs_root)


def test_port_silent_server_ends_within_the_timeout() -> None:
    result, _ = probe("port", Script(active="silent"), timeout=2.0)
    assert result.report.attempts[0].socket_result == "not-accepted"
    assert result.report.seconds <= 3.0


def test_advertise_announces_another_address() -> None:
    _result, net = probe("port", Script(client_ip="10.0.0.2"), advertise_ip="203.0.113.2",
                        advertise_port=40100)
    assert "PORT 203,0,113,2,156,164" in net.script.commands
    assert net.listener is not None and net.listener.local.port == 40100


def test_eprt_ipv4() -> None:
    _, net = probe("eprt")
    assert any(c.startswith("EPRT |1|203.0.113.10|") for c in net.script.commands)


def test_port_refuses_ipv6() -> None:
    net = FakeNetwork()
    opts = ProbeOptions(mode="port", target=Target(name="2001:db8::1", ip="2001:db8::1"),
                        creds=Credentials(user="a", password="b", source="t"), sniff=False)
    with pytest.raises(UsageError):
        run_probe(opts, net)


@pytest.mark.parametrize("text,expected", [
    ("LIST", ("LIST", None)), ("nlst", ("NLST", None)), ("RETR test.jpg", ("RETR", "test.jpg")),
    ("STOR up/x.bin", ("STOR", "up/x.bin")),
])
def test_parse_command(text: str, expected: tuple[str, str | None]) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize("text", ["DELE x", "RETR", "STOR  "])
def test_parse_command_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_command(text)
