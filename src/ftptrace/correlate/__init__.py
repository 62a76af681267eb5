"""Multi-vantage correlation: several captures of the same FTP traffic, one story.

`Fingerprints` is fed every packet of one capture beside the trace builder; `correlate`
takes the per-capture traces and their fingerprints and returns the merged trace (each
session once), the findings placed by the path, and the `Correlation` report (capture
order, clock offsets, NAT mappings, helper rewrites, per-connection paths).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ftptrace.correlate.document import annotate
from ftptrace.correlate.merge import correlate_traces
from ftptrace.correlate.prints import Fingerprints
from ftptrace.correlate.report import Correlation
from ftptrace.correlate.verdict import findings as correlated_findings
from ftptrace.diagnose.findings import Finding
from ftptrace.model import Trace


@dataclass(frozen=True, slots=True, kw_only=True)
class Correlated:
    trace: Trace
    findings: tuple[Finding, ...]
    correlation: Correlation


def correlate(traces: Sequence[Trace], prints: Sequence[Fingerprints]) -> Correlated:
    """Merge per-capture traces of the same traffic (one `Fingerprints` per trace)."""
    merged = correlate_traces(traces, prints)
    return Correlated(
        trace=merged.trace, findings=correlated_findings(merged), correlation=merged.correlation
    )


__all__ = ["Correlated", "Correlation", "Fingerprints", "annotate", "correlate"]
