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
SESSION_GUARDS: dict[Rule, Callable[[Session], bool]] = {}
"""Per session rule, a cheap test that is False only for sessions on which the rule
cannot find anything (`Diagnosis.session` then skips the rule): most sessions are healthy,
and running every rule on each of them cost more than writing it out."""


def rule(fn: Rule) -> Rule:
    """Register a rule over one session (see `SESSION_RULES`)."""
    SESSION_RULES.append(fn)
    return fn


def only_if(may_find: Callable[[Session], bool]) -> Callable[[Rule], Rule]:
    """Guard a session rule (put it under `@rule`): `may_find(s)` False promises that the
    rule yields nothing for the one-session trace of `s`. Keep the two side by side, so a
    change to the rule is seen to need one to the guard."""

    def register(fn: Rule) -> Rule:
        SESSION_GUARDS[fn] = may_find
        return fn

    return register


def global_rule(fn: Rule) -> Rule:
    """Register a rule over what is not a session (see `GLOBAL_RULES`)."""
    GLOBAL_RULES.append(fn)
    return fn


def evidence(*refs: FrameRef | None) -> tuple[FrameRef, ...]:
    """The frames a finding rests on: the ones that exist in a capture (frame 0 never does)."""
    if len(refs) == 1:  # the usual case, without a generator
        r = refs[0]
        return (r,) if r is not None and r.frame > 0 else ()
    return tuple([r for r in refs if r is not None and r.frame > 0])


def channels(trace: Trace) -> Iterator[tuple[Session, DataChannel]]:
    """Every data channel of the trace, with its session."""
    for s in trace.sessions:
        for ch in s.data_channels:
            yield s, ch


def port_list(ports: set[int]) -> str:
    """Ports for a summary: all of them when few, else how many and the span."""
    s = sorted(ports)
    return ", ".join(map(str, s)) if len(s) <= 6 else f"{len(s)} ports {s[0]}..{s[-1]}"
