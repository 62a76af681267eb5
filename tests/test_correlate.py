"""Multi-vantage correlation: one conversation captured at several points on its path."""

from __future__ import annotations

import random

from ftptrace.correlate import annotate
from ftptrace.diagnose.findings import Code, Severity, Where
from ftptrace.model import Outcome
from ftptrace.net.model import Segment
from ftptrace.render.json import to_document
from multiwire import (
    CLIENT,
    CLIENT_PUBLIC,
    SERVER,
    SERVER_LAN,
    Alg,
    Point,
    analyse,
    correlated,
    home_path,
    project,
)

from wire import Ftp, Wire, ep

NAMES = ["client", "client-router-lan", "client-router-wan", "server-router-wan",
         "server-router-lan", "server"]


def pasv_session(w: Wire, port: int = 50007) -> int:
    """Login, PASV, a data SYN (retransmitted), 425. Returns the index of the first data SYN."""
    ftp = Ftp(w, f"{CLIENT}:40000", f"{SERVER}:21")
    ftp.login()
    hi, lo = divmod(port, 256)
    ftp.cmd("PASV", f"227 Entering Passive Mode (198,51,100,2,{hi},{lo}).")
    first = len(w.packets)
    w.syn(ep(f"{CLIENT}:40001"), ep(f"{SERVER}:{port}"), count=3)
    ftp.cmd("RETR test.jpg", "425 Failed to establish connection.")
    ftp.quit()
    return first


def test_dropped_data_syn_is_placed_between_the_last_capture_that_saw_it_and_the_next() -> None:
    w = Wire()
    first = pasv_session(w)
    pts = home_path()
    caps = project(w, pts, seen=lambda k, p: range(4) if first <= k < first + 3 else None)
    c = correlated(pts, caps)
    assert len(c.trace.sessions) == 1, "the six copies of the session are one session"
    (f,) = [f for f in c.findings if f.code is Code.DATA_SYN_UNANSWERED]
    assert f.where is Where.SERVER_ROUTER
    assert "not at server-router-lan" in f.summary
    assert {r.capture for r in f.evidence} >= {"client.pcap", "server-router-wan.pcap"}
    assert not [x for x in c.findings if x.code is Code.DATA_SYN_UNANSWERED and x is not f]
    (conn,) = [x for x in c.correlation.connections if x.kind == "data"]
    assert (conn.path.last_seen, conn.path.first_missing) == ("server-router-wan",
                                                              "server-router-lan")
    doc = annotate(to_document(c), c.correlation)
    path = doc["sessions"][0]["data_channels"][0]["path"]
    assert [h["vantage"] for h in path] == NAMES
    assert [h["seen"] for h in path] == [True] * 4 + [False] * 2
    assert path[2]["orig"] == {"ip": CLIENT_PUBLIC, "port": 40001}
    # Unseen hops: addresses as the NAT mappings learned on the control connection make them.
    assert path[4]["resp"] == {"ip": SERVER_LAN, "port": 50007} and path[4]["predicted"]
    assert doc["sessions"][0]["control"]["last_seen"] == "server"
    assert doc["correlation"]["order"] == NAMES


def test_reset_from_the_server_router_is_charged_to_it() -> None:
    w = Wire()
    ftp = Ftp(w, f"{CLIENT}:40000", f"{SERVER}:21")
    ftp.login()
    ftp.cmd("PASV", "227 Entering Passive Mode (198,51,100,2,195,80).")
    syn = len(w.packets)
    w.syn(ep(f"{CLIENT}:40001"), ep(f"{SERVER}:50000"))
    w.rst(ep(f"{SERVER}:50000"), ep(f"{CLIENT}:40001"))
    ftp.quit()
    pts = home_path()
    caps = project(w, pts, seen=lambda k, p: range(4) if k in (syn, syn + 1) else None)
    c = correlated(pts, caps)
    (f,) = [f for f in c.findings if f.code is Code.DATA_REFUSED]
    assert f.where is Where.SERVER_ROUTER
    assert "reset came back from beyond server-router-wan" in f.summary


def test_active_mode_through_the_client_routers_helper() -> None:
    w = Wire()
    ftp = Ftp(w, f"{CLIENT}:40000", f"{SERVER}:21")
    ftp.login()
    ftp.cmd("PORT 10,0,0,2,156,64", "200 PORT command successful.")
    data = w.connect(ep(f"{SERVER}:20"), ep(f"{CLIENT}:40000"))
    ftp.cmd("RETR test.txt", "150 Opening")
    w.b_says(data, b"x" * 10)  # b is the client here: the server sends as a
    w.a_says(data, b"ftptrace!\n")
    w.close(data)
    ftp.reply("226 Transfer complete.")
    ftp.quit()
    pts = home_path()
    alg = Alg(b"PORT 10,0,0,2,", b"PORT 203,0,113,2,", at=2)
    c = correlated(pts, project(w, pts, alg=alg))
    (f,) = [f for f in c.findings if f.code is Code.ALG_REWRITE]
    assert f.where is Where.CLIENT_ROUTER and f.severity is Severity.INFO
    assert "'PORT 10,0,0,2,156,64' at client-router-lan" in f.summary
    assert "'PORT 203,0,113,2,156,64' at client-router-wan" in f.summary
    assert "shift by +3 (measured" in f.summary
    assert [r.capture for r in f.evidence] == ["client-router-lan.pcap",
                                                "client-router-wan.pcap"]
    (r,) = c.correlation.rewrites
    assert r.shift == 3 and r.to_server
    kinds = {(m.router, m.kind, m.connection, m.inside, m.outside)
             for m in c.correlation.nat_mappings}
    assert (Where.CLIENT_ROUTER, "dnat", "data", ep(f"{CLIENT}:40000"),
            ep(f"{CLIENT_PUBLIC}:40000")) in kinds
    assert (Where.SERVER_ROUTER, "snat", "data", ep(f"{SERVER_LAN}:20"),
            ep(f"{SERVER}:20")) in kinds
    assert (Where.SERVER_ROUTER, "dnat", "control", ep(f"{SERVER_LAN}:21"),
            ep(f"{SERVER}:21")) in kinds
    assert not [f for f in c.findings if f.severity is Severity.ERROR]


def _port_without_helper(split: bool) -> Wire:
    w = Wire()
    ftp = Ftp(w, f"{CLIENT}:40000", f"{SERVER}:21")
    ftp.login()
    if split:
        w.a_says(ftp.f, b"PORT 10,0,")
        w.a_says(ftp.f, b"0,2,156,64\r\n")
        ftp.reply("500 Illegal PORT command.")
    else:
        ftp.cmd("PORT 10,0,0,2,156,64", "500 Illegal PORT command.")
    ftp.quit()
    return w


def test_a_port_command_that_crossed_the_nat_unrewritten_is_a_missed_helper() -> None:
    pts = home_path()
    c = correlated(pts, project(_port_without_helper(False), pts))
    (f,) = [f for f in c.findings if f.code is Code.ALG_MISSED]
    assert f.where is Where.CLIENT_ROUTER
    assert "10.0.0.2 became 203.0.113.2" in f.summary and "no FTP helper" in f.summary
    assert any(x.code is Code.PORT_REJECTED for x in c.findings)


def test_a_split_port_command_is_named_as_the_reason_the_helper_missed_it() -> None:
    pts = home_path()
    c = correlated(pts, project(_port_without_helper(True), pts))
    (f,) = [f for f in c.findings if f.code is Code.ALG_MISSED]
    assert "split over several TCP segments" in f.summary


def test_227_rewritten_by_the_server_routers_helper() -> None:
    w = Wire()
    ftp = Ftp(w, f"{CLIENT}:40000", f"{SERVER}:21")
    ftp.login()
    ftp.cmd("PASV", "227 Entering Passive Mode (192,168,1,2,195,80).")
    data = w.connect(ep(f"{CLIENT}:40001"), ep(f"{SERVER}:50000"))
    ftp.cmd("LIST", "150 Here comes the listing.")
    w.b_says(data, b"-rw-r--r-- 1 0 0 10 test.txt\r\n")
    w.close(data)
    ftp.reply("226 Directory send OK.")
    ftp.quit()
    pts = home_path()
    alg = Alg(b"(192,168,1,2,", b"(198,51,100,2,", at=4, to_server=False)
    # What the client sees is after the rewrite: write it that way, un-rewrite server-side.
    w.packets = [p._replace(payload=p.payload.replace(b"(192,168,1,2,", b"(198,51,100,2,"))
                 if isinstance(p, Segment) else p for p in w.packets]
    alg = Alg(b"(198,51,100,2,", b"(192,168,1,2,", at=4, to_server=False)
    c = correlated(pts, project(w, pts, alg=alg))
    (f,) = [f for f in c.findings if f.code is Code.ALG_REWRITE]
    assert f.where is Where.SERVER_ROUTER
    assert "(192,168,1,2,195,80).' at server-router-lan" in f.summary
    assert "(198,51,100,2,195,80).' at server-router-wan" in f.summary
    # The server's copy alone would call the private 227 an error; the helper fixed it.
    assert not [x for x in c.findings if x.code is Code.PASV_PRIVATE_ADDRESS]
    assert not [x for x in c.findings if x.severity is Severity.ERROR]


def test_clock_skew_between_captures_is_estimated_and_tolerated() -> None:
    w = Wire()
    first = pasv_session(w)
    pts = home_path(server_router_wan=300.0, server_router_lan=300.0, server=-42.5)
    caps = project(w, pts, seen=lambda k, p: range(4) if first <= k < first + 3 else None)
    c = correlated(pts, caps)
    clocks = {x.name: x.offset for x in c.correlation.clocks}
    assert abs(clocks["server-router-wan"] - 300.0) < 0.01
    assert abs(clocks["server"] + 42.5) < 0.01
    assert any("runs +300.000s" in n for n in c.correlation.notes)
    (f,) = [f for f in c.findings if f.code is Code.DATA_SYN_UNANSWERED]
    assert f.where is Where.SERVER_ROUTER


def test_unlabelled_captures_are_put_in_path_order_and_the_report_says_so() -> None:
    w = Wire()
    first = pasv_session(w)
    pts = home_path(server=7.0)
    for p in pts:
        p.path, p.name = f"cap-{p.name}.pcap", None
    caps = project(w, pts, seen=lambda k, p: range(4) if first <= k < first + 3 else None)
    order = list(range(6))
    random.Random(6).shuffle(order)
    c = correlated([pts[i] for i in order], [caps[i] for i in order])
    corr = c.correlation
    assert [p.name for p in corr.points] == [f"cap-{n}.pcap" for n in NAMES]
    assert corr.order_inferred and "TTL hop counts and timestamps" in corr.order_basis
    assert any(n.startswith("capture order") for n in corr.notes)
    (f,) = [f for f in c.findings if f.code is Code.DATA_SYN_UNANSWERED]
    # No labels: the server's address changes between the last two captures that saw it
    # and did not: that is the server's router.
    assert f.where is Where.SERVER_ROUTER


def test_a_box_that_rewrites_sequence_numbers_is_matched_by_ip_id() -> None:
    w = Wire()
    first = pasv_session(w)
    pts = home_path()
    caps = project(w, pts, seen=lambda k, p: range(4) if first <= k < first + 3 else None,
                   isn_rewrite_at=3)
    c = correlated(pts, caps)
    (conn,) = [x for x in c.correlation.connections if x.kind == "data"]
    assert conn.path.last_seen == "server-router-wan"
    assert any("IP ID only" in n for n in c.correlation.notes)


def test_a_capture_that_missed_the_handshake_is_joined_by_its_segments() -> None:
    w = Wire()
    pasv_session(w)
    pts = home_path()
    caps = project(w, pts)
    caps[5] = [p for p in caps[5] if not (isinstance(p, Segment) and p.src.port in (21, 40000)
                                          and p.flags & 0x02)]
    c = correlated(pts, caps)
    assert len(c.trace.sessions) == 1
    assert c.correlation.seen_at[0] == tuple(NAMES)


def test_captures_of_different_traffic_are_analysed_side_by_side() -> None:
    a, b = Wire(), Wire()
    pasv_session(a)
    Ftp(b, "192.0.2.7:41000", "198.51.100.9:21").login()
    pts = [Point("client"), Point("server")]
    caps = [project(a, pts[:1])[0], project(b, pts[1:], other_host=77777)[0]]
    c = correlated(pts, caps)
    assert len(c.trace.sessions) == 2
    assert any("do not show the same traffic" in n for n in c.correlation.notes)
    assert not c.correlation.connections


def test_the_same_session_twice_in_one_capture_is_kept_once() -> None:
    w = Wire()
    pasv_session(w)
    pts = home_path()
    caps = project(w, pts)
    # A capture on the server router's bridge sees every packet before and after DNAT.
    both = [Point("server-router-lan", {CLIENT: CLIENT_PUBLIC}, 3, 0)]
    caps[4] = sorted(caps[4] + project(w, both)[0], key=lambda p: p.ts)
    c = correlated(pts, caps)
    assert len(c.trace.sessions) == 1


def test_tls_through_nat_is_charged_to_the_router_whose_helper_it_blinds() -> None:
    w = Wire()
    ftp = Ftp(w, f"{CLIENT}:40000", f"{SERVER}:21")
    ftp.cmd("AUTH TLS", "234 Proceed with negotiation.")
    w.a_says(ftp.f, b"\x16\x03\x01\x00\x05hello")
    syn = len(w.packets)
    w.syn(ep(f"{CLIENT}:40001"), ep(f"{SERVER}:50003"), count=3)  # after an encrypted PASV
    pts = home_path()
    caps = project(w, pts, seen=lambda k, p: range(4) if k >= syn else None)
    c = correlated(pts, caps)
    (f,) = [f for f in c.findings if f.code is Code.CONTROL_ENCRYPTED]
    assert f.where is Where.SERVER_ROUTER
    assert "helper cannot read" in f.summary
    (blind,) = [f for f in c.findings if f.code is Code.ALG_MISSED]
    assert blind.where is Where.SERVER_ROUTER and "AUTH TLS" in blind.summary
    assert "port 50003" in blind.summary


def test_control_attempt_refused_by_the_router_on_a_lan_client_hairpin() -> None:
    w = Wire()
    lan_client, public = "192.168.1.3", SERVER
    w.syn(ep(f"{lan_client}:40000"), ep(f"{public}:21"))
    w.rst(ep(f"{public}:21"), ep(f"{lan_client}:40000"))
    pts = [Point("client"), Point("server-router-lan"), Point("server", {}, 0, 0)]
    # The router answers for its own address: the server never sees the SYN.
    caps = project(w, pts, seen=lambda k, p: (0, 1), client_ips=frozenset({lan_client}))
    traces, prints = analyse(pts, caps)
    from ftptrace.correlate import correlate

    c = correlate(traces, prints)
    assert len(c.trace.control_attempts) == 1
    (f,) = c.findings
    assert f.code is Code.CONTROL_REFUSED and f.where is Where.SERVER_ROUTER
    assert c.trace.control_attempts[0].outcome is Outcome.REFUSED
