"""Diagnosis: every registered rule over a trace, findings in a stable order.

One pure rule per failure mode, kept in a registry (mechanism apart from policy, as in Zeek:
the trace builder only reports what it saw; the rules decide what it means). The rules live
by concern — control connection, announcements, data connections, damaged evidence, the
passive range — and register themselves when imported; this module imports them all, so
importing it is enough to diagnose. Placement (`where`) follows the evidence (`placement`).

Names defined here before the split (the rules, the hints, `on_host`, `PassiveRange` …)
are still importable from here.
"""

from __future__ import annotations

# Import order is registration order, the same as when every rule lived in this module (the
# output does not depend on it: findings are sorted, and no two rules share a code).
# isort: off
from ftptrace.diagnose.control_rules import control_failures, encrypted_control, login_failed
from ftptrace.diagnose.announce_rules import active_address, passive_address
from ftptrace.diagnose.data_rules import active_source_port, data_failures
from ftptrace.diagnose.damage_rules import anomalies, damaged_captures

# isort: on
from ftptrace.diagnose.findings import Finding, Severity
from ftptrace.diagnose.hints import NAT_PORT_HINT, PASV_HINT, RANGE_HINT
from ftptrace.diagnose.placement import behind_nat, client_reachable_directly, on_host
from ftptrace.diagnose.range_rule import PassiveRange, passive_range
from ftptrace.diagnose.registry import (
    GLOBAL_RULES,
    SESSION_GUARDS,
    SESSION_RULES,
    Rule,
    global_rule,
    rule,
)
from ftptrace.model import Session, Trace, make_trace


def _one_session(s: Session) -> Trace:
    """`Trace(captures=(), sessions=(s,))` for the session rules, through `make_trace`: the
    frozen dataclass's __init__ costs more than the rules it feeds on a healthy session."""
    return make_trace((), (s,))


_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def _in_order(found: list[Finding]) -> tuple[Finding, ...]:
    if len(found) < 2:
        return tuple(found)  # most sessions: nothing to order, no keys to build
    return tuple(
        sorted(
            found,
            key=lambda f: (
                _SEVERITY_ORDER[f.severity],
                f.evidence[0].capture if f.evidence else "",
                f.evidence[0].frame if f.evidence else 0,
                f.code,
            ),
        )
    )


class Diagnosis:
    """Findings as sessions complete (bounded memory for any capture size), then the rest.

    Per-session findings come out as soon as a session is over; cross-session facts (the
    passive range) are kept as small per-server port sets and reported by `finish`.
    """

    def __init__(self) -> None:
        self._range = PassiveRange()

    def session(self, s: Session) -> tuple[Finding, ...]:
        self._range.add(s)
        found: list[Finding] = []
        one: Trace | None = None
        guards = SESSION_GUARDS
        for r in SESSION_RULES:
            may_find = guards.get(r)
            if may_find is not None and not may_find(s):
                continue  # provably nothing to find (see `registry.only_if`)
            if one is None:
                one = _one_session(s)
            found.extend(r(one))
        return _in_order(found)

    def finish(self, trace: Trace) -> tuple[Finding, ...]:
        """Global findings for `trace` (its sessions, if any, are not looked at again)."""
        rest = Trace(captures=trace.captures, sessions=(), control_attempts=trace.control_attempts)
        return _in_order([f for r in GLOBAL_RULES for f in r(rest)] + self._range.findings())


def diagnose(trace: Trace) -> tuple[Finding, ...]:
    """Every rule over the trace: each session's findings in session order, then the rest."""
    d = Diagnosis()
    out = [f for s in trace.sessions for f in d.session(s)]
    return (*out, *d.finish(trace))


__all__ = [
    "GLOBAL_RULES",
    "NAT_PORT_HINT",
    "PASV_HINT",
    "RANGE_HINT",
    "SESSION_RULES",
    "Diagnosis",
    "PassiveRange",
    "Rule",
    "active_address",
    "active_source_port",
    "anomalies",
    "behind_nat",
    "client_reachable_directly",
    "control_failures",
    "damaged_captures",
    "data_failures",
    "diagnose",
    "encrypted_control",
    "global_rule",
    "login_failed",
    "on_host",
    "passive_address",
    "passive_range",
    "rule",
]
