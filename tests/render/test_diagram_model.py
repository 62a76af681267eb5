"""The sequence model: which lanes, which arrows, where each failure died, and why."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from tests.render.conftest import load_fixture

from ftptrace.render.diagram_model import (
    Arrow,
    Diagram,
    Note,
    Role,
    Section,
    Status,
    _box_between,
    build_diagram,
    command_text,
    hop_positions,
    lanes_for,
    outcome_text,
)


def arrows(d: Diagram) -> list[Arrow]:
    return [s for s in d.steps if isinstance(s, Arrow)]


def failed(d: Diagram) -> list[Arrow]:
    return [a for a in arrows(d) if a.died_at is not None]


def test_every_fixture_builds_and_is_deterministic(fixture_doc: tuple[str, dict[str, Any]]) -> None:
    _, doc = fixture_doc
    d1, d2 = build_diagram(doc), build_diagram(copy.deepcopy(doc))
    assert d1 == d2
    assert d1.roles[0] is Role.CLIENT and d1.roles[-1] is Role.SERVER
    assert list(d1.roles) == sorted(d1.roles, key=lambda r: r.position)
    for a in arrows(d1):
        assert {a.src, a.dst, a.end} <= set(d1.roles)


def test_single_capture_without_evidence_of_a_router_has_two_lanes() -> None:
    d = build_diagram(load_fixture("port_ok"))
    assert d.roles == (Role.CLIENT, Role.SERVER)
    assert not failed(d)
    data = [a for a in arrows(d) if a.label.startswith("data")]
    assert [(a.src, a.dst) for a in data] == [(Role.SERVER, Role.CLIENT)] * 2
    assert "server connects 192.168.1.2:20 → 203.0.113.10:40005" in data[0].label
    assert "102,400 bytes" in data[1].label


def test_private_227_adds_the_server_router_and_icmp_dies_in_the_internet() -> None:
    d = build_diagram(load_fixture("pasv_private_address"))
    assert d.roles == (Role.CLIENT, Role.INTERNET, Role.SERVER_ROUTER, Role.SERVER)
    (dead,) = failed(d)
    assert dead.died_at is Role.INTERNET and dead.status is Status.FAILED
    assert dead.notes and "ICMP net-unreachable" in dead.notes[0]
    reply = next(a for a in arrows(d) if a.label.startswith("227"))
    assert reply.reply and reply.status is Status.FAILED and reply.died_at is None
    assert "PASV_PRIVATE_ADDRESS" in reply.notes[0]


def test_port_from_behind_nat_adds_the_client_router() -> None:
    d = build_diagram(load_fixture("port_client_behind_nat"))
    assert Role.CLIENT_ROUTER in d.roles
    port = next(a for a in arrows(d) if a.label.startswith("PORT"))
    assert port.status is Status.FAILED and port.died_at is None, "the command itself arrived"
    (dead,) = failed(d)
    assert (dead.src, dead.died_at) == (Role.SERVER, Role.INTERNET)


def test_unanswered_syn_dies_at_the_router_the_finding_names() -> None:
    d = build_diagram(load_fixture("pasv_range_not_forwarded"))
    (dead,) = failed(d)
    assert dead.died_at is Role.SERVER_ROUTER
    assert "SYN sent 4×" in dead.label
    ok = next(a for a in arrows(d) if a.label.startswith("data #1"))
    assert ok.status is Status.WARNING, "the partly-forwarded warning colours the good one"


def test_not_attempted_channel_is_muted_and_drawn_after_the_refused_port() -> None:
    d = build_diagram(load_fixture("port_rejected_then_pasv"))
    labels = [a.label for a in arrows(d)]
    i = labels.index("500 Illegal PORT command.")
    assert labels[i + 1].startswith("data #1 for PORT: server would connect")
    assert arrows(d)[i + 1].status is Status.MUTED
    assert "(inferred from the replies)" in labels[labels.index("NLST") + 1]


def test_each_finding_is_shown_once() -> None:
    for name in ("pasv_range_not_forwarded", "control_refused_and_tls", "multi_vantage_pasv"):
        doc = load_fixture(name)
        d = build_diagram(doc)
        texts = [n for a in arrows(d) for n in a.notes]
        texts += [s.text for s in d.steps if isinstance(s, Note)]
        for f in doc["findings"]:
            assert sum(f["summary"] in t for t in texts) == 1, f["code"]


def test_sessions_get_sections_and_a_refused_control_connection_dies() -> None:
    d = build_diagram(load_fixture("control_refused_and_tls"))
    assert next(s.title for s in d.steps if isinstance(s, Section)).startswith("session 1")
    first = arrows(d)[0]
    assert first.label.endswith(": refused") and first.died_at is Role.SERVER_ROUTER
    assert any(isinstance(s, Note) and "TLS" in s.text for s in d.steps)


def test_path_draws_the_nat_rewrite_hop_by_hop_and_dies_between_vantages() -> None:
    d = build_diagram(load_fixture("multi_vantage_pasv"))
    assert d.roles == tuple(Role)
    ok = [a for a in arrows(d) if not a.reply and ("45101" in a.label or "61001" in a.label)]
    assert [(a.src, a.dst) for a in ok] == [
        (Role.CLIENT, Role.CLIENT_ROUTER), (Role.CLIENT_ROUTER, Role.INTERNET),
        (Role.INTERNET, Role.SERVER_ROUTER), (Role.SERVER_ROUTER, Role.SERVER)]
    assert "10.0.0.2:45101" in ok[0].label and "203.0.113.20:61001" in ok[1].label
    assert "192.168.1.2:50000" in ok[3].label, "DNAT shown after the server router"
    (dead,) = failed(d)
    assert (dead.src, dead.died_at) == (Role.INTERNET, Role.SERVER_ROUTER)


def test_path_in_travel_order_for_an_active_connection() -> None:
    doc = load_fixture("multi_vantage_pasv")
    ch = doc["sessions"][0]["data_channels"][1]
    ch["passive"] = False  # the server connects: travel is server → client
    for hop in ch["path"]:
        hop["seen"] = hop["vantage"] in ("server", "server-router-lan", "server-router-wan")
    dead = failed(build_diagram(doc))[0]
    assert dead.src is Role.SERVER_ROUTER and dead.died_at is Role.INTERNET


def test_hop_positions_and_the_box_between() -> None:
    path = [{"vantage": v} for v in ("client", "client-router-wan", "server-router-lan")]
    assert hop_positions(path) == [0.0, 1.5, 3.5]
    assert hop_positions([{"vantage": None}, {"vantage": "x"}, {}]) == [0.0, 2.0, 4.0]
    assert _box_between(2.5, 3.5) is Role.SERVER_ROUTER
    assert _box_between(1.5, 3.5) is Role.INTERNET
    assert _box_between(3.5, 4.0) is Role.SERVER
    assert _box_between(2.5, 1.5) is Role.INTERNET


def test_lanes_follow_findings_where() -> None:
    doc = load_fixture("port_ok")
    assert lanes_for(doc) == {Role.CLIENT, Role.SERVER}
    doc["findings"] = [{"code": "X", "severity": "error", "where": "internet", "summary": "s",
                        "hint": "h", "evidence": []}]
    assert lanes_for(doc) == {Role.CLIENT, Role.INTERNET, Role.SERVER}


@pytest.mark.parametrize("verb", ["PASS", "pass", "ACCT", "ADAT"])
def test_credentials_are_masked_whatever_the_document_holds(verb: str) -> None:
    assert command_text({"command": verb, "arg": "hunter2"}) == f"{verb.upper()} ****"
    doc = load_fixture("port_ok")
    doc["sessions"][0]["commands"][1]["arg"] = "hunter2"
    assert "hunter2" not in json.dumps([str(s) for s in build_diagram(doc).steps])


@pytest.mark.parametrize(
    ("ch", "text"),
    [
        ({"outcome": "established", "bytes": 1234}, "established, 1,234 bytes"),
        ({"outcome": "established", "inferred": True}, "established (inferred from the replies)"),
        ({"outcome": "refused", "connection": {"rst": {"sender": "1.2.3.4", "from_peer": False}}},
         "refused: RST from 1.2.3.4 (a box on the path)"),
        ({"outcome": "unanswered", "connection": {"syn_count": 3}},
         "unanswered: SYN sent 3×, no reply"),
        ({"outcome": "not_attempted"}, "not attempted"),
        ({"outcome": "weird"}, "weird"),
    ],
)
def test_outcome_text(ch: dict[str, Any], text: str) -> None:
    assert outcome_text(ch) == text


def test_a_minimal_document_from_an_older_engine_still_draws() -> None:
    doc = {"schema": "ftptrace/1", "captures": [], "findings": [], "sessions": [{
        "client": {"ip": "10.0.0.2", "port": 1}, "server": {"ip": "10.0.0.1", "port": 21},
        "commands": [{"ts": 1.0, "command": "PASV", "arg": None, "reply": None}],
        "data_channels": [{"via": "EPSV", "passive": True, "announced": {"ip": None, "port": 5},
                           "expected": {"orig_ip": "10.0.0.2", "resp_ip": "10.0.0.1",
                                        "resp_port": 5},
                           "command": None, "outcome": "unknown", "inferred": False,
                           "connection": None, "bytes": 0}]}]}
    d = build_diagram(doc)
    assert d.roles == (Role.CLIENT, Role.SERVER)
    assert any("10.0.0.1:5" in a.label for a in arrows(d))
    assert build_diagram({"schema": "ftptrace/1"}).steps


def test_control_attempts_that_never_became_sessions_are_drawn() -> None:
    doc = {"schema": "ftptrace/1", "captures": [], "sessions": [], "control_attempts": [
        {"orig": {"ip": "203.0.113.10", "port": 40000}, "resp": {"ip": "198.51.100.2", "port": 21},
         "syn_frame": 1, "syn_count": 3, "synack_frame": None, "rst": None, "icmp": None,
         "outcome": "unanswered"}],
        "findings": [{"code": "CONTROL_UNANSWERED", "severity": "error", "where": "server-router",
                      "summary": "21 not forwarded", "hint": "h",
                      "evidence": [{"capture": "c.pcap", "frame": 1}]}]}
    d = build_diagram(doc)
    (a,) = arrows(d)
    assert a.died_at is Role.SERVER_ROUTER and "SYN sent 3×" in a.label
    assert a.notes == ("CONTROL_UNANSWERED: 21 not forwarded",)
