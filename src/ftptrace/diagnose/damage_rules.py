"""Rules about the evidence itself: a malformed control dialogue, a damaged capture.

Registered last: the findings that say other findings may be incomplete.
"""

from __future__ import annotations

from collections.abc import Iterator

from ftptrace.diagnose.findings import Code, Finding, Severity, Where, make_finding
from ftptrace.diagnose.registry import evidence, global_rule, only_if, rule
from ftptrace.model import Session, Trace


def _has_anomalies(s: Session) -> bool:
    return bool(s.anomalies)


@rule
@only_if(_has_anomalies)
def anomalies(trace: Trace) -> Iterator[Finding]:
    for s in trace.sessions:
        seen: set[str] = set()
        for ref, kind_, detail in s.anomalies:
            if kind_ in seen:
                continue
            seen.add(kind_)
            yield make_finding(
                code=Code.PROTOCOL_ANOMALY,
                severity=Severity.WARNING,
                where=Where.UNKNOWN,
                summary=f"{s.client} → {s.server}: {kind_}: {detail}",
                hint="The control dialogue is not well-formed here; findings that depend on "
                "it may be incomplete.",
                evidence=evidence(ref),
            )


@global_rule
def damaged_captures(trace: Trace) -> Iterator[Finding]:
    for cap in trace.captures:
        for w in cap.warnings:
            yield make_finding(
                code=Code.CAPTURE_DAMAGED,
                severity=Severity.WARNING,
                where=Where.UNKNOWN,
                summary=f"{cap.path}: {w}",
                hint="Results cover only the packets that could be read.",
            )
