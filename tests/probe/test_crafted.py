"""Sweep and path logic on recorded answers; the crafted SYN's bytes."""

from __future__ import annotations

import socket
import struct

from ftptrace.diagnose.findings import Code
from ftptrace.net.model import ACK, RST, SYN, Endpoint, IcmpError, Segment
from ftptrace.probe.commands import path_findings, sweep_findings
from ftptrace.probe.path import PathResult, analyze, collect
from ftptrace.probe.rawtcp import _checksum, nft_rule, syn_segment
from ftptrace.probe.sweep import SweepResult, classify, parse_ports, ranges, split

SERVER = "198.51.100.2"
ME = "10.0.0.2"
SPORT = 45000


def seg(sport: int, flags: int, ttl: int, src: str = SERVER) -> Segment:
    return Segment(1.0, 0, Endpoint(src, sport), Endpoint(ME, SPORT), flags, 1, 2, b"", ttl,
                   None)


def test_ranges_and_parse_ports() -> None:
    assert ranges([50000, 50001, 50002, 50007]) == "50000-50002, 50007"
    assert ranges([]) == "none"
    assert parse_ports("50000-50002,21") == (21, 50000, 50001, 50002)


def test_sweep_tells_server_from_router_by_ttl() -> None:
    # baseline 21: SYN-ACK TTL 61 (3 hops). 50000-50004 forwarded: RST from the server
    # (TTL 61); 50005-50009: RST from the router (TTL 62, one hop closer).
    packets = [seg(21, SYN | ACK, 61)]
    packets += [seg(p, RST | ACK, 61) for p in range(50000, 50005)]
    packets += [seg(p, RST | ACK, 62) for p in range(50005, 50009)]
    packets.append(seg(50003, RST | ACK, 62))  # a later duplicate does not override
    ports = tuple(range(50000, 50010))
    answers = classify(packets, SERVER, SPORT, (21, *ports))
    baseline = answers[21]
    fwd, nof = split({p: answers.get(p) or _silent() for p in ports}, ports, baseline)
    assert ranges(fwd) == "50000-50004"
    assert ranges(nof) == "50005-50009"  # 50009 silent: dropped = not forwarded
    r = SweepResult(target=SERVER, ports=ports, answers={}, baseline_port=21,
                    baseline=baseline, sent=11, seconds=0.1, rate=2000, forwarded=fwd,
                    not_forwarded=nof)
    (f,) = sweep_findings(r)
    assert f.code is Code.PASSIVE_RANGE_PARTIALLY_FORWARDED
    assert "50000-50004" in f.summary and "50005-50009" in f.summary


def _silent():  # type: ignore[no-untyped-def]
    from ftptrace.probe.sweep import SILENT

    return SILENT


def test_sweep_ignores_foreign_packets() -> None:
    other = Segment(1.0, 0, Endpoint(SERVER, 50000), Endpoint(ME, 1234), SYN | ACK, 1, 2, b"",
                    61, None)
    icmp = IcmpError(1.0, 0, "203.0.113.1", 3, 13, "admin-prohibited", Endpoint(ME, SPORT),
                     Endpoint(SERVER, 50001), 0, 63)
    answers = classify([other, icmp], SERVER, SPORT, [50000, 50001])
    assert 50000 not in answers
    assert answers[50001].kind == "icmp" and answers[50001].icmp == "admin-prohibited"


def _icmp(ttl: int, sport: int, sender: str) -> IcmpError:
    return IcmpError(1.0, 0, sender, 11, 0, "time-exceeded", Endpoint(ME, sport),
                     Endpoint(SERVER, 0), 0, 64 - ttl)


def test_path_names_the_router_that_drops_the_data_port() -> None:
    # hops: 1 client router, 2 internet, 3 server router (DNATs 21 on to the server)
    base = 40000
    probes = {}
    packets: list[Segment | IcmpError] = []
    routers = {1: "10.0.0.1", 2: "203.0.113.1", 3: SERVER}
    for ttl in range(1, 6):
        for k, name in enumerate(("data", "control")):
            probes[base + 2 * (ttl - 1) + k] = (ttl, name)
    for ttl, r in routers.items():
        packets.append(_icmp(ttl, base + 2 * (ttl - 1) + 1, r))  # control: time exceeded
        if ttl < 3:
            packets.append(_icmp(ttl, base + 2 * (ttl - 1), r))  # data: dies at hop 3
    synack = Segment(1.0, 0, Endpoint(SERVER, 21), Endpoint(ME, base + 7), SYN | ACK, 1, 2,
                     b"", 61, None)
    packets.append(synack)  # ttl 4: control reaches the server
    answers = collect(packets, SERVER, probes)
    hops, verdict, at, by, reached = analyze(SERVER, 50000, 21, answers, 5)
    assert (at, by, reached) == (3, SERVER, False)
    assert "dies after hop 2 (203.0.113.1)" in verdict
    assert len(hops) == 4 and hops[3].control.kind == "synack"
    r = PathResult(target=SERVER, data_port=50000, control_port=21, hops=hops, verdict=verdict,
                   stopped_at=at, stopped_by=by, reached=reached, sent=10, seconds=1.0)
    (f,) = path_findings(r)
    assert f.code is Code.DATA_SYN_UNANSWERED and f.where.value == "server-router"


def test_path_reject_at_the_router() -> None:
    probes = {40000: (1, "data"), 40001: (1, "control"), 40002: (2, "data"),
              40003: (2, "control")}
    packets = [_icmp(1, 40000, "10.0.0.1"), _icmp(1, 40001, "10.0.0.1"),
               Segment(1.0, 0, Endpoint(SERVER, 50000), Endpoint(ME, 40002), RST | ACK, 0, 1,
                       b"", 63, None),
               _icmp(2, 40003, SERVER)]
    _, verdict, at, by, reached = analyze(SERVER, 50000, 21, collect(packets, SERVER, probes), 2)
    assert (at, by, reached) == (2, SERVER, False)
    assert "refuses" in verdict and "goes on" in verdict


def test_path_same_host_answers_both() -> None:
    probes = {40000: (1, "data"), 40001: (1, "control")}
    packets = [Segment(1.0, 0, Endpoint(SERVER, 50000), Endpoint(ME, 40000), RST | ACK, 0, 1,
                       b"", 64, None),
               Segment(1.0, 0, Endpoint(SERVER, 21), Endpoint(ME, 40001), SYN | ACK, 0, 1,
                       b"", 64, None)]
    _, verdict, at, _, reached = analyze(SERVER, 50000, 21, collect(packets, SERVER, probes), 1)
    assert reached and at is None and "forwards it" in verdict


def test_syn_segment_checksum_v4_and_v6() -> None:
    seg4 = syn_segment("10.0.0.2", SERVER, 45000, 50000, 12345)
    assert len(seg4) == 20
    sport, dport, seq, _ack, off, flags = struct.unpack("!HHIIBB", seg4[:14])
    assert (sport, dport, seq, off >> 4, flags) == (45000, 50000, 12345, 5, SYN)
    pseudo = socket.inet_aton("10.0.0.2") + socket.inet_aton(SERVER) + struct.pack("!xBH", 6, 20)
    assert _checksum(pseudo + seg4) == 0
    seg6 = syn_segment("2001:db8::10", "2001:db8::2", 1, 2, 3)
    pseudo6 = (socket.inet_pton(socket.AF_INET6, "2001:db8::10")
               + socket.inet_pton(socket.AF_INET6, "2001:db8::2") + struct.pack("!IxxxB", 20, 6))
    assert _checksum(pseudo6 + seg6) == 0


def test_nft_rule_is_scoped_to_our_ports() -> None:
    text = nft_rule("ftptrace_probe_1", 40000, 40031)
    assert "tcp sport 40000-40031" in text and "rst" in text and "hook output" in text
