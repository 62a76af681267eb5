"""The per-session shortcuts of `Diagnosis.session` change nothing it finds.

`Diagnosis.session` skips a rule when its guard (`registry.only_if`) says the session
cannot trigger it, builds the one-session Trace and the findings through twins
(`_one_session`, `make_finding`), and `PassiveRange.add` skips work for channels with a
connection. Each is held here to the plain way: every rule on `Trace(...)`, `Finding(...)`,
and the range gathered as before, on generated sessions and on every shipped capture.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftptrace.diagnose.findings import Code, Finding, Severity, Where, make_finding
from ftptrace.diagnose.placement import never_arrived
from ftptrace.diagnose.range_rule import PassiveRange
from ftptrace.diagnose.registry import SESSION_GUARDS, SESSION_RULES, evidence
from ftptrace.diagnose.rules import Diagnosis, _in_order, _one_session
from ftptrace.model import (
    Command,
    Connection,
    DataChannel,
    Expected,
    FrameRef,
    IcmpReport,
    Outcome,
    Reply,
    Rst,
    Session,
    Trace,
)
from ftptrace.net.model import Endpoint
from ftptrace.replay import analyze
from shipped import CAPTURES

ROOT = Path(__file__).resolve().parent.parent.parent

# Addresses of every kind the rules tell apart, and one that is not an address.
IPS = ["10.0.0.2", "192.168.1.2", "100.64.0.9", "203.0.113.10", "198.51.100.2", "8.8.8.8",
       "127.0.0.1", "169.254.1.1", "0.0.0.0", "2001:db8::1", "fd00::1", "nonsense"]  # fmt: skip
ips = st.sampled_from(IPS)
frames = st.integers(min_value=0, max_value=50)
refs = st.builds(FrameRef, capture=st.sampled_from(["a.pcap", "b.pcap"]), frame=frames)
endpoints = st.builds(Endpoint, ips, st.sampled_from([20, 21, 2000, 50000]))
ttls = st.none() | st.sampled_from([63, 64, 127, 128, 255, 250])
codes = st.sampled_from([125, 150, 200, 226, 227, 425, 426, 450, 500, 530, 550])
replies = st.builds(
    Reply,
    code=codes,
    text=st.sampled_from(["", "ok", "vsf_sysutil_bind\nx"]),
    ts=st.just(1.0),
    ref=refs,
)
commands = st.builds(
    Command,
    ts=st.just(1.0),
    ref=refs,
    verb=st.sampled_from(["USER", "PASS", "AUTH", "RETR", "LIST"]),
    arg=st.none() | st.just("x"),
    replies=st.lists(replies, max_size=2).map(tuple),
)
connections = st.builds(
    Connection,
    orig=endpoints,
    resp=endpoints,
    first_ts=st.just(1.0),
    last_ts=st.just(2.0),
    syn=st.none() | refs,
    syn_count=st.integers(0, 3),
    syn_ttl=ttls,
    synack=st.none() | refs,
    synack_ttl=ttls,
    established=st.booleans(),
    rst=st.none()
    | st.builds(
        Rst,
        ref=refs,
        sender=ips,
        ttl=st.sampled_from([63, 64, 255]),
        ip_id=st.none(),
        from_peer=st.none() | st.booleans(),
    ),
    icmp=st.none() | st.builds(IcmpReport, ref=refs, sender=ips, kind=st.just("x"), ttl=ttls),
    bytes_orig=st.integers(0, 9),
    bytes_resp=st.integers(0, 9),
    saw_payload=st.booleans(),
)
channels = st.builds(
    DataChannel,
    via=st.sampled_from(["PASV", "EPSV", "PORT", "EPRT"]),
    passive=st.booleans(),
    announced_ip=st.none() | ips,
    announced_port=st.sampled_from([20, 50000, 50001]),
    announced_ref=refs,
    announce_reply=replies,
    expected=st.builds(Expected, orig_ip=ips, resp_ip=ips, resp_port=st.just(50000)),
    command=st.none() | commands,
    outcome=st.sampled_from(Outcome),
    inferred=st.booleans(),
    connection=st.none() | connections,
    matched_by=st.none() | st.just("endpoint"),
)
anomalies = st.tuples(refs, st.sampled_from(["odd", "odder"]), st.just("detail"))
sessions = st.builds(
    Session,
    capture=st.just("a.pcap"),
    client=endpoints,
    server=endpoints,
    control=connections,
    user=st.none() | st.just("anonymous"),
    tls=st.booleans(),
    banner=st.none(),
    login_ok=st.none() | st.booleans(),
    commands=st.lists(commands, max_size=3).map(tuple),
    data_channels=st.lists(channels, max_size=3).map(tuple),
    anomalies=st.lists(anomalies, max_size=2).map(tuple),
    server_ttl=ttls,
    client_ttl=ttls,
)


def _plain(s: Session) -> tuple[Finding, ...] | None:
    """Every session rule on the one-session Trace, as before (None: a rule raised)."""
    one = Trace(captures=(), sessions=(s,))
    try:
        return _in_order([f for r in SESSION_RULES for f in r(one)])
    except (AssertionError, AttributeError, IndexError):
        return None  # an impossible session (say, NOT_ATTEMPTED without a reply)


def _range_as_before(ss: list[Session]) -> dict[str, tuple[set[int], set[int], list[FrameRef]]]:
    by_server: dict[str, tuple[set[int], set[int], list[FrameRef]]] = {}
    for s in ss:
        for ch in s.data_channels:
            if not ch.passive or ch.inferred:
                continue
            missing = never_arrived(s, ch)
            if ch.connection is None and not missing:
                continue
            ok, bad, refs_ = by_server.setdefault(ch.expected.resp_ip, (set(), set(), []))
            if ch.outcome is Outcome.ESTABLISHED:
                ok.add(ch.expected.resp_port)
            elif ch.outcome in (Outcome.REFUSED, Outcome.UNANSWERED) or missing:
                bad.add(ch.expected.resp_port)
                if len(refs_) < 10:
                    refs_.extend(evidence(ch.connection.syn if ch.connection else ch.announced_ref))
    return by_server


def _check(ss: list[Session]) -> None:
    d = Diagnosis()
    for s in ss:
        before = _plain(s)
        if before is None:
            continue
        assert d.session(s) == before
        one = Trace(captures=(), sessions=(s,))
        for r, may_find in SESSION_GUARDS.items():
            if not may_find(s):
                assert list(r(one)) == [], r.__name__
    acc = PassiveRange()
    for s in ss:
        acc.add(s)
    assert acc.by_server == _range_as_before(ss)


@settings(max_examples=400)
@given(st.lists(sessions, max_size=4))
def test_guarded_diagnosis_finds_what_every_rule_finds(ss: list[Session]) -> None:
    _check(ss)


@pytest.mark.parametrize("capture", CAPTURES, ids=str)
def test_guarded_diagnosis_on_shipped_captures(
    capture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    _check(list(analyze([(None, capture)]).trace.sessions))


def test_every_guard_belongs_to_a_session_rule() -> None:
    assert set(SESSION_GUARDS) <= set(SESSION_RULES)


@given(sessions)
def test_one_session_trace_is_the_constructors(s: Session) -> None:
    made = _one_session(s)
    plain = Trace(captures=(), sessions=(s,))
    assert type(made) is Trace and made == plain and hash(made) == hash(plain)


@given(
    st.sampled_from(Code),
    st.sampled_from(Severity),
    st.sampled_from(Where),
    st.text(),
    st.text(),
    st.lists(refs, max_size=3).map(tuple),
)
def test_make_finding_is_the_constructor(
    code: Code, severity: Severity, where: Where, summary: str, hint: str, ev: tuple[FrameRef, ...]
) -> None:
    made = make_finding(
        code=code, severity=severity, where=where, summary=summary, hint=hint, evidence=ev
    )
    plain = Finding(
        code=code, severity=severity, where=where, summary=summary, hint=hint, evidence=ev
    )
    assert type(made) is Finding and made == plain and hash(made) == hash(plain)
    assert make_finding(code=code, severity=severity, where=where, summary="", hint="") == Finding(
        code=code, severity=severity, where=where, summary="", hint=""
    )


@given(st.lists(st.none() | refs, max_size=3))
def test_evidence_keeps_the_frames_that_exist(rs: list[FrameRef | None]) -> None:
    assert evidence(*rs) == tuple(r for r in rs if r is not None and r.frame > 0)
