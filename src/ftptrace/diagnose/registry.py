"""The rule registry and the few things every rule shares.

A rule is a pure function from a `Trace` to findings (mechanism apart from policy, as in
Zeek: the trace builder only reports what it saw; the rules decide what it means). Rules
register themselves with `@rule` (one session at a time) or `@global_rule` (what is not a
session); `diagnose.rules` imports every rule module, in registration order, and runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ftptrace.diagnose.findings import Finding
from ftptrace.model import DataChannel, FrameRef, Session, Trace

Rule = Callable[[Trace], Iterator[Finding]]
SESSION_RULES: list[Rule] = []
"""Rules that look at one session at a time (called with a one-session Trace)."""
GLOBAL_RULES: list[Rule] = []
"""Rules over what is not a session: control attempts, capture damage."""


def rule(fn: Rule) -> Rule:
    """Register a rule over one session (see `SESSION_RULES`)."""
    SESSION_RULES.append(fn)
    return fn


def global_rule(fn: Rule) -> Rule:
    """Register a rule over what is not a session (see `GLOBAL_RULES`)."""
    GLOBAL_RULES.append(fn)
    return fn


def evidence(*refs: FrameRef | None) -> tuple[FrameRef, ...]:
    """The frames a finding rests on: the ones that exist in a capture (frame 0 never does)."""
    return tuple(r for r in refs if r is not None and r.frame > 0)


def channels(trace: Trace) -> Iterator[tuple[Session, DataChannel]]:
    """Every data channel of the trace, with its session."""
    for s in trace.sessions:
        for ch in s.data_channels:
            yield s, ch


def port_list(ports: set[int]) -> str:
    """Ports for a summary: all of them when few, else how many and the span."""
    s = sorted(ports)
    return ", ".join(map(str, s)) if len(s) <= 6 else f"{len(s)} ports {s[0]}..{s[-1]}"
