"""Replay one capture straight into the JSON document, in constant memory.

The collected path (`replay.analyze`) keeps every session to correlate several captures
and to print a terminal report. A single capture written as JSON needs neither: each
session is diagnosed and written the moment it is over, then forgotten (issue 2: memory
must not grow with capture size).
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from ftptrace.diagnose.findings import Finding, Severity
from ftptrace.diagnose.rules import Diagnosis
from ftptrace.model import Session
from ftptrace.net.pcap import CaptureReader
from ftptrace.render.json import DocumentWriter
from ftptrace.replay import read_trace


def stream_json(
    path: Path,
    out: TextIO,
    *,
    vantage: str | None = None,
    control_ports: frozenset[int] = frozenset({21}),
    reader: CaptureReader | None = None,
) -> bool:
    """Write the document for one capture to `out`; True when an error finding was found.

    Raises CaptureError before anything is written when the file cannot be opened (the
    writer starts with the first session, or at the end).
    """
    diagnosis = Diagnosis()
    writer: DocumentWriter | None = None
    errors = False

    def emit(session: Session) -> None:
        nonlocal writer, errors
        if writer is None:
            writer = DocumentWriter(out)
        found = diagnosis.session(session)
        if found and not errors:  # most sessions find nothing: skip the scan
            errors = _has_error(found)
        writer.session(session, found)

    trace = read_trace(path, vantage, control_ports, on_session=emit, reader=reader)
    if writer is None:
        writer = DocumentWriter(out)
    rest = diagnosis.finish(trace)
    writer.finish(trace, rest)
    return errors or _has_error(rest)


def _has_error(found: tuple[Finding, ...]) -> bool:
    return any(f.severity is Severity.ERROR for f in found)
