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
from ftptrace.model import CaptureInfo, Session
from ftptrace.net.decode import decode, port_prefilter
from ftptrace.net.pcap import open_capture
from ftptrace.render.json import DocumentWriter
from ftptrace.trace import TraceBuilder


def stream_json(
    path: Path,
    out: TextIO,
    *,
    vantage: str | None = None,
    control_ports: frozenset[int] = frozenset({21}),
) -> bool:
    """Write the document for one capture to `out`; True when an error finding was found.

    Raises CaptureError before anything is written when the file cannot be opened.
    """
    diagnosis = Diagnosis()
    errors = False

    with open_capture(path) as reader:
        writer = DocumentWriter(out)

        def emit(session: Session) -> None:
            nonlocal errors
            found = diagnosis.session(session)
            errors = errors or _has_error(found)
            writer.session(session, found)

        builder = TraceBuilder(
            CaptureInfo(path=str(path), vantage=vantage),
            control_ports=control_ports,
            on_session=emit,
        )
        feed = builder.feed
        ports = builder.ports
        reader.keep = port_prefilter(ports)
        for _frame, ts, linktype, data, _orig, _iface in reader:
            pkt = decode(linktype, data, ts, _frame, ports)
            if pkt is not None:
                feed(pkt)
        trace = builder.finish(tuple(reader.warnings))
        info = trace.captures[0]
        trace = trace.__class__(
            captures=(
                CaptureInfo(
                    path=info.path,
                    vantage=info.vantage,
                    packets=reader.packets,
                    warnings=info.warnings,
                ),
            ),
            sessions=(),
            control_attempts=trace.control_attempts,
        )
    rest = diagnosis.finish(trace)
    writer.finish(trace, rest)
    return errors or _has_error(rest)


def _has_error(found: tuple[Finding, ...]) -> bool:
    return any(f.severity is Severity.ERROR for f in found)
