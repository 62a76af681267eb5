"""The streaming writer's direct text equals the dicts of `to_document`, encoded.

`DocumentWriter` writes sessions and findings with `session_line` and `finding_line`
instead of encoding `_session(s)` / `finding_dict(f)` (speed: they run once per session).
The two describe the same schema twice, so they are held to each other here: on every
shipped capture, and on generated values with odd strings, None fields and odd numbers.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ftptrace.diagnose.findings import Code, Finding, Severity, Where
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
)
from ftptrace.net.model import Endpoint
from ftptrace.render.json import (
    _compact,
    _session,
    _ts_text,
    finding_dict,
    finding_line,
    session_line,
)
from ftptrace.replay import analyze
from shipped import CAPTURES

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.parametrize("capture", CAPTURES, ids=str)
def test_writer_agrees_with_dicts_on_shipped_captures(
    capture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    analysis = analyze([(None, capture)])
    assert CAPTURES
    for s in analysis.trace.sessions:
        assert session_line(s) == _compact(_session(s))
    for f in analysis.findings:
        assert finding_line(f) == _compact(finding_dict(f))


# Strings json escapes (quotes, backslashes, control characters, U+2028, lone surrogates)
# and strings it passes through (non-ASCII, since the document is not ASCII-only).
ODD = '"\\\x00\x01\x1f\x7f\n\r\t/\u2028\u00e9\u20ac\U0001f600\ud800 a'
odd_text = st.one_of(st.text(), st.text(alphabet=st.sampled_from(ODD)))
maybe_text = st.none() | odd_text
ints = st.integers(min_value=0, max_value=2**40)
refs = st.builds(FrameRef, capture=odd_text, frame=ints)
endpoints = st.builds(Endpoint, odd_text, st.integers(0, 65535))
timestamps = st.one_of(
    st.floats(),  # NaN, infinities, negative, tiny, huge
    st.floats(min_value=1.0, max_value=2.0**33),
    st.integers(min_value=1_600_000_000, max_value=1_800_000_000).map(lambda n: n + 0.5e-6),
    st.integers(min_value=-(2**40), max_value=2**40),
)
replies = st.builds(Reply, code=st.integers(0, 999), text=odd_text, ts=st.floats(), ref=refs)
commands = st.builds(
    Command,
    ts=timestamps,
    ref=refs,
    verb=odd_text,
    arg=maybe_text,
    replies=st.lists(replies, max_size=3).map(tuple),
)
connections = st.builds(
    Connection,
    orig=endpoints,
    resp=endpoints,
    first_ts=st.floats(),
    last_ts=st.floats(),
    syn=st.none() | refs,
    syn_count=ints,
    syn_ttl=st.none() | ints,
    synack=st.none() | refs,
    synack_ttl=st.none() | ints,
    established=st.booleans(),
    rst=st.none()
    | st.builds(
        Rst,
        ref=refs,
        sender=odd_text,
        ttl=ints,
        ip_id=st.none() | ints,
        from_peer=st.none() | st.booleans(),
    ),
    icmp=st.none() | st.builds(IcmpReport, ref=refs, sender=odd_text, kind=odd_text, ttl=ints),
    bytes_orig=ints,
    bytes_resp=ints,
    saw_payload=st.booleans(),
)
channels = st.builds(
    DataChannel,
    via=odd_text,
    passive=st.booleans(),
    announced_ip=maybe_text,
    announced_port=ints,
    announced_ref=refs,
    announce_reply=st.none() | replies,
    expected=st.builds(Expected, orig_ip=odd_text, resp_ip=odd_text, resp_port=ints),
    command=st.none() | commands,
    outcome=st.sampled_from(Outcome),
    inferred=st.booleans(),
    connection=st.none() | connections,
    matched_by=maybe_text,
)
sessions = st.builds(
    Session,
    capture=odd_text,
    client=endpoints,
    server=endpoints,
    control=connections,
    user=maybe_text,
    tls=st.booleans(),
    banner=maybe_text,
    login_ok=st.none() | st.booleans(),
    commands=st.lists(commands, max_size=4).map(tuple),
    data_channels=st.lists(channels, max_size=3).map(tuple),
)
findings = st.builds(
    Finding,
    code=st.sampled_from(Code),
    severity=st.sampled_from(Severity),
    where=st.sampled_from(Where),
    summary=odd_text,
    hint=odd_text,
    evidence=st.lists(refs, max_size=3).map(tuple),
)


@settings(max_examples=300, deadline=None)
@given(sessions)
def test_session_line_agrees_with_dict(s: Session) -> None:
    assert session_line(s) == _compact(_session(s))


@settings(max_examples=200, deadline=None)
@given(findings)
def test_finding_line_agrees_with_dict(f: Finding) -> None:
    assert finding_line(f) == _compact(finding_dict(f))


@settings(max_examples=3000, deadline=None)
@given(timestamps)
@example(1.0)
@example(4294967295.9999995)  # rounds up to 2**32
@example(4294967296.0)
@example(1.0000004999999999)
@example(99.9999995)
@example(1700000000.0)
@example(math.nextafter(1.0, 0.0))
@example(-0.0)
def test_ts_text_is_round_then_repr(ts: float) -> None:
    assert _ts_text(ts) == _compact(round(ts, 6))
