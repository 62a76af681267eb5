"""The `model.make_*` fast constructors build exactly what the dataclass constructors build.

They bypass the generated `__init__` (see model.py), so each one is checked against its
class field by field: same parameters as the fields, equal objects with every field set,
same hash, still immutable, still usable with `dataclasses.replace()` and pickle.
"""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from ftptrace import model
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

REF = FrameRef(capture="a.pcap", frame=7)
REPLY = Reply(code=227, text="Entering Passive Mode", ts=2.5, ref=REF)
COMMAND = Command(ts=2.0, ref=FrameRef(capture="a.pcap", frame=6), verb="PASV", arg=None,
                  replies=(REPLY,))
RST = Rst(ref=REF, sender="198.51.100.2", ttl=63, ip_id=4711, from_peer=False)
ICMP = IcmpReport(ref=REF, sender="192.0.2.1", kind="port-unreachable", ttl=250)
CONN = Connection(
    orig=Endpoint("203.0.113.10", 40000),
    resp=Endpoint("198.51.100.2", 21),
    first_ts=1.0,
    last_ts=9.0,
    syn=FrameRef(capture="a.pcap", frame=1),
    syn_count=2,
    syn_ttl=64,
    synack=FrameRef(capture="a.pcap", frame=2),
    synack_ttl=57,
    established=True,
    rst=RST,
    icmp=ICMP,
    bytes_orig=120,
    bytes_resp=4096,
    saw_payload=True,
)
CHANNEL = DataChannel(
    via="PASV",
    passive=True,
    announced_ip="198.51.100.2",
    announced_port=50000,
    announced_ref=REF,
    announce_reply=REPLY,
    expected=Expected(orig_ip="203.0.113.10", resp_ip="198.51.100.2", resp_port=50000),
    command=COMMAND,
    outcome=Outcome.REFUSED,
    inferred=True,
    connection=CONN,
    matched_by="port",
)
SESSION = Session(
    capture="a.pcap",
    client=Endpoint("203.0.113.10", 40000),
    server=Endpoint("198.51.100.2", 21),
    control=CONN,
    user="anonymous",
    tls=True,
    banner="220 hi",
    login_ok=False,
    commands=(COMMAND,),
    data_channels=(CHANNEL,),
    anomalies=((REF, "capture-gap", "12 bytes missing"),),
    server_ttl=57,
    client_ttl=64,
)

CASES: list[tuple[Callable[..., Any], Any]] = [
    (model.make_frame_ref, REF),
    (model.make_reply, REPLY),
    (model.make_command, COMMAND),
    (model.make_rst, RST),
    (model.make_icmp_report, ICMP),
    (model.make_connection, CONN),
    (model.make_data_channel, CHANNEL),
    (model.make_session, SESSION),
    (model.make_trace, model.Trace(captures=(model.CaptureInfo(path="a.pcap"),),
                                   sessions=(SESSION,), control_attempts=(CONN,),
                                   warnings=("cut",))),
]


def _values(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


@pytest.mark.parametrize(("make", "expected"), CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_make_equals_constructor(make: Callable[..., Any], expected: Any) -> None:
    cls = type(expected)
    names = [f.name for f in dataclasses.fields(cls)]
    # Every field is a parameter, in field order: a field added to the class but not to
    # its `make_*` function fails here instead of leaving a slot unset.
    assert list(inspect.signature(make).parameters) == names
    values = _values(expected)
    # No field left at its default: each one is really written by `make`.
    for f in dataclasses.fields(cls):
        assert values[f.name] != f.default, f.name
    built = make(**values)
    assert type(built) is cls
    assert built == expected and expected == built
    assert hash(built) == hash(expected)
    assert _values(built) == values
    for name in names:
        assert getattr(built, name) is values[name], name
    assert repr(built) == repr(expected)


@pytest.mark.parametrize(("make", "expected"), CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_made_objects_stay_frozen_values(make: Callable[..., Any], expected: Any) -> None:
    built = make(**_values(expected))
    name = dataclasses.fields(built)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(built, name, getattr(built, name))
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(built, name)
    assert not hasattr(built, "__dict__")
    assert dataclasses.replace(built) == expected
    assert pickle.loads(pickle.dumps(built)) == expected


def test_positional_fast_paths() -> None:
    """The hot builders call the small ones positionally, in field order."""
    assert model.make_frame_ref("a.pcap", 7) == REF
    assert model.make_reply(227, "Entering Passive Mode", 2.5, REF) == REPLY
    changed = dataclasses.replace(model.make_reply(227, "x", 2.5, REF), code=550)
    assert changed == Reply(code=550, text="x", ts=2.5, ref=REF)
