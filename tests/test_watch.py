"""`ftptrace watch`: the live core with a scripted wire and clock, then for real in the lab."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ftptrace.diagnose.findings import Code, Where
from ftptrace.model import Outcome
from ftptrace.replay import analyze
from ftptrace.watch import (
    AttemptEvent,
    ChannelEvent,
    FindingEvent,
    SessionEvent,
    Watcher,
    event_dict,
    event_lines,
    summary_dict,
    summary_lines,
)

from wire import Ftp, Wire, ep

CLIENT = "203.0.113.10"
SERVER = "198.51.100.2"


def feed(w: Watcher, wire: Wire, start: int = 0) -> int:
    for p in wire.packets[start:]:
        w.feed(p)
    return len(wire.packets)


def channels(events: list[object]) -> list[ChannelEvent]:
    return [e for e in events if isinstance(e, ChannelEvent)]


def test_a_refused_channel_is_reported_at_once_with_its_finding() -> None:
    wire, w = Wire(hops={SERVER: 3}), Watcher()
    ftp = Ftp(wire, f"{CLIENT}:40000", f"{SERVER}:21")
    ftp.login()
    ftp.cmd("PASV", "227 Entering Passive Mode (198,51,100,2,195,80).")
    wire.syn(ep(f"{CLIENT}:40001"), ep(f"{SERVER}:50000"))
    wire.rst(ep(f"{SERVER}:50000"), ep(f"{CLIENT}:40001"), ttl=62)
    n = feed(w, wire)
    (ev,) = channels(w.tick(wire.ts + 0.01))
    assert ev.channel.outcome is Outcome.REFUSED
    assert ev.where == Where.SERVER_ROUTER.value
    assert [f.code for f in ev.findings] == [Code.DATA_REFUSED]
    line, finding = event_lines(ev)
    assert "PASV 198.51.100.2:50000" in line and "refused by 198.51.100.2" in line
    assert line.endswith("[server-router]") and "DATA_REFUSED" in finding
    assert not w.tick(wire.ts + 1), "reported once"
    ftp.quit()
    feed(w, wire, n)
    assert not [e for e in w.tick(wire.ts + 0.5) if isinstance(e, SessionEvent)], "lingers"
    (s,) = [e for e in w.tick(wire.ts + 3) if isinstance(e, SessionEvent)]
    assert s.session.user == "anonymous" and s.session.login_ok
    assert not w.builder._sessions and not w.builder._conns, "forgotten once reported"


def test_an_unanswered_syn_waits_until_it_is_certain() -> None:
    wire, w = Wire(hops={SERVER: 3}), Watcher(wait=10.0)
    ftp = Ftp(wire, f"{CLIENT}:40000", f"{SERVER}:21")
    ftp.cmd("EPSV", "229 Entering Extended Passive Mode (|||50000|)")
    wire.syn(ep(f"{CLIENT}:40001"), ep(f"{SERVER}:50000"), count=2)
    feed(w, wire)
    first_syn = wire.ts
    assert not channels(w.tick(first_syn + 3)), "a late SYN-ACK is still possible"
    (ev,) = channels(w.tick(first_syn + 11))
    assert ev.channel.outcome is Outcome.UNANSWERED
    assert [f.code for f in ev.findings] == [Code.DATA_SYN_UNANSWERED]


def test_a_425_settles_an_unanswered_channel_without_waiting() -> None:
    wire, w = Wire(hops={SERVER: 3}), Watcher(wait=60.0)
    ftp = Ftp(wire, f"{CLIENT}:40000", f"{SERVER}:21")
    ftp.cmd("PORT 203,0,113,10,156,65", "200 PORT command successful.")
    ftp.cmd("RETR test.jpg", "425 Failed to establish connection.")
    feed(w, wire)
    (ev,) = channels(w.tick(wire.ts))
    assert ev.channel.outcome is Outcome.FAILED
    assert Code.ACTIVE_CONNECT_FAILED in [f.code for f in ev.findings]


def test_an_established_transfer_is_reported_when_the_server_confirms_it() -> None:
    wire, w = Wire(hops={SERVER: 3}), Watcher()
    ftp = Ftp(wire, f"{CLIENT}:40000", f"{SERVER}:21")
    ftp.cmd("PASV", "227 Entering Passive Mode (198,51,100,2,195,80).")
    data = wire.connect(ep(f"{CLIENT}:40001"), ep(f"{SERVER}:50000"))
    ftp.cmd("RETR test.txt", "150 Opening BINARY mode data connection")
    wire.b_says(data, b"ftptrace!\n")
    n = feed(w, wire)
    assert not channels(w.tick(wire.ts)), "transfer still running"
    wire.close(data)
    ftp.reply("226 Transfer complete.")
    feed(w, wire, n)
    (ev,) = channels(w.tick(wire.ts))
    assert ev.channel.outcome is Outcome.ESTABLISHED and not ev.findings and not ev.where
    assert event_lines(ev)[0].endswith("established, 10 bytes")
    d = event_dict(ev)
    assert d["event"] == "channel" and d["outcome"] == "established" and d["bytes"] == 10
    assert d["command"] == "RETR test.txt" and d["where"] is None
    json.dumps(d)


def test_a_partly_forwarded_range_is_judged_when_the_session_ends() -> None:
    wire, w = Wire(hops={SERVER: 3}), Watcher()
    ftp = Ftp(wire, f"{CLIENT}:40000", f"{SERVER}:21")
    for i, port in enumerate((50000, 50001, 50007, 50008)):
        hi, lo = divmod(port, 256)
        ftp.cmd("PASV", f"227 Entering Passive Mode (198,51,100,2,{hi},{lo}).")
        c = ep(f"{CLIENT}:{41000 + i}")
        if port < 50005:
            wire.connect(c, ep(f"{SERVER}:{port}"))
        else:
            wire.syn(c, ep(f"{SERVER}:{port}"))
            wire.rst(ep(f"{SERVER}:{port}"), c, ttl=62)
        ftp.cmd("NLST", "150 ok", "226 ok" if port < 50005 else "425 no")
    n = feed(w, wire)
    events = w.tick(wire.ts)
    assert len(channels(events)) == 4
    assert not [e for e in events if isinstance(e, FindingEvent)], "not before the session ends"
    ftp.quit()
    feed(w, wire, n)
    (fe,) = [e for e in w.tick(wire.ts + 5) if isinstance(e, FindingEvent)]
    assert fe.finding.code is Code.PASSIVE_RANGE_PARTIALLY_FORWARDED
    assert "50000, 50001 work, 50007, 50008 fail" in fe.finding.summary
    assert event_dict(fe)["event"] == "finding"


def test_a_refused_control_connection_is_an_attempt() -> None:
    wire, w = Wire(hops={SERVER: 3}), Watcher()
    wire.syn(ep(f"{CLIENT}:40000"), ep(f"{SERVER}:21"))
    wire.rst(ep(f"{SERVER}:21"), ep(f"{CLIENT}:40000"))
    feed(w, wire)
    (ev,) = [e for e in w.tick(wire.ts) if isinstance(e, AttemptEvent)]
    assert ev.connection.outcome is Outcome.REFUSED
    assert [f.code for f in ev.findings] == [Code.CONTROL_REFUSED]
    assert "control connection: refused" in event_lines(ev)[0]


def test_memory_stays_bounded_over_many_sessions() -> None:
    wire, w = Wire(hops={SERVER: 3}), Watcher()
    n = 0
    for i in range(300):
        ftp = Ftp(wire, f"{CLIENT}:{20000 + i}", f"{SERVER}:21")
        ftp.cmd("PASV", "227 Entering Passive Mode (198,51,100,2,195,80).")
        data = wire.connect(ep(f"{CLIENT}:{30000 + i}"), ep(f"{SERVER}:50000"))
        ftp.cmd("LIST", "150 ok", "226 ok")
        wire.close(data)
        ftp.quit()
        n = feed(w, wire, n)
        w.tick(wire.ts + 3)
        assert len(w.builder._sessions) <= 1 and len(w.builder._conns) <= 4
    w.close(wire.ts)
    assert w.summary.sessions == 300 and w.summary.channels == {"established": 300}
    d = summary_dict(w.summary)
    assert d["event"] == "summary" and d["sessions"] == 300
    assert summary_lines(w.summary)[-1] == "no problems found"


def test_close_resolves_everything_still_open() -> None:
    wire, w = Wire(hops={SERVER: 3}), Watcher()
    ftp = Ftp(wire, f"{CLIENT}:40000", f"{SERVER}:21")
    ftp.cmd("PASV", "227 Entering Passive Mode (198,51,100,2,195,80).")
    feed(w, wire)
    events = w.close(wire.ts)
    (ch,) = channels(events)
    assert ch.channel.outcome is Outcome.UNKNOWN
    assert [e for e in events if isinstance(e, SessionEvent)]


# --- the lab ------------------------------------------------------------------------------


@pytest.mark.lab
def test_watch_on_the_server_router_while_a_client_runs(require_lab: None,
                                                        tmp_path: Path) -> None:
    """pasv-range-partly-forwarded: ftplib makes 16 transfers, half to unforwarded ports."""
    from ftptrace.lab.runner import Lab
    from ftptrace.lab.topology import Host

    kept = tmp_path / "wan.pcapng"
    with Lab("pasv-range-partly-forwarded") as lab:
        argv = ["ip", "netns", "exec", lab.netns(Host.SERVER_ROUTER), "ftptrace", "watch",
                "--iface", "wan", "--json-lines", "--duration", "30", "--pcap", str(kept)]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        try:
            assert proc.stderr is not None
            ready = proc.stderr.readline()
            assert "watching wan" in ready, ready
            run = lab.run_client()
            assert run.returncode != 0, "half of the transfers must fail"
            time.sleep(2.5)  # the session lingers 2 s after its FIN
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
    events = [json.loads(line) for line in out.splitlines()]
    chans = [e for e in events if e["event"] == "channel"]
    assert len(chans) == 16, err
    outcomes = {e["outcome"] for e in chans}
    assert outcomes == {"established", "refused"}
    for e in chans:
        assert e["client"]["ip"] == "203.0.113.2" and e["server"] == {"ip": "198.51.100.2",
                                                                      "port": 21}
        port = e["announced"]["port"]
        assert (e["outcome"] == "established") == (port <= 50004), e
        if e["outcome"] == "refused":
            assert e["where"] == "server-router"
    assert any(e["event"] == "session" and e["user"] == "anonymous" for e in events)
    (rng,) = [e for e in events if e["event"] == "finding"]
    assert rng["code"] == "PASSIVE_RANGE_PARTIALLY_FORWARDED" and rng["where"] == "server-router"
    summary = events[-1]
    assert summary["event"] == "summary" and summary["channels"]["refused"] >= 1
    assert proc.returncode == 1, "error findings: exit status 1 as replay"
    # --pcap kept the packets: a replay of them tells the same story.
    replayed = analyze([(None, kept)])
    (s,) = replayed.trace.sessions
    assert len(s.data_channels) == 16
    assert {ch.outcome for ch in s.data_channels} == {Outcome.ESTABLISHED, Outcome.REFUSED}
