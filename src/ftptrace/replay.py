"""The replay use case: capture files in, `Analysis` (Trace + findings) out.

Each capture is read in one streaming pass; `vantage` labels (client, server-router-wan …)
travel with it so that multi-vantage correlation can place failures between captures.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ftptrace.diagnose.findings import Finding
from ftptrace.diagnose.rules import diagnose
from ftptrace.errors import CaptureError
from ftptrace.model import CaptureInfo, Trace
from ftptrace.net.decode import decode
from ftptrace.net.pcap import open_capture
from ftptrace.trace import TraceBuilder, merge_traces

VANTAGES = (
    "client",
    "client-router-lan",
    "client-router-wan",
    "server-router-wan",
    "server-router-lan",
    "server",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Analysis:
    """What every renderer takes: the trace and the findings diagnosed from it."""

    trace: Trace
    findings: tuple[Finding, ...]
    unreadable: tuple[str, ...] = ()
    """Inputs that could not be read at all (message per input)."""


def parse_input(arg: str) -> tuple[str | None, Path]:
    """`LABEL=FILE` or `FILE` (a file whose name contains '=' still works if it exists)."""
    if "=" in arg and not os.path.exists(arg):
        label, _, path = arg.partition("=")
        return label, Path(path)
    return None, Path(arg)


def read_trace(
    path: Path, vantage: str | None = None, control_ports: frozenset[int] = frozenset({21})
) -> Trace:
    """Stream one capture through the decoder and the trace builder."""
    with open_capture(path) as reader:
        builder = TraceBuilder(
            CaptureInfo(path=str(path), vantage=vantage), control_ports=control_ports
        )
        feed = builder.feed
        ports = builder.ports  # live set: grows as channels are announced
        for raw in reader:
            pkt = decode(raw.linktype, raw.data, raw.ts, raw.frame, ports)
            if pkt is not None:
                feed(pkt)
        trace = builder.finish(tuple(reader.warnings))
    info = trace.captures[0]
    fixed = CaptureInfo(
        path=info.path, vantage=info.vantage, packets=reader.packets, warnings=info.warnings
    )
    return Trace(
        captures=(fixed,),
        sessions=trace.sessions,
        control_attempts=trace.control_attempts,
        warnings=trace.warnings,
    )


def analyze(
    inputs: Sequence[tuple[str | None, Path]], control_ports: frozenset[int] = frozenset({21})
) -> Analysis:
    """Read every input; unreadable ones are reported, the rest analysed together."""
    traces: list[Trace] = []
    unreadable: list[str] = []
    for vantage, path in inputs:
        try:
            traces.append(read_trace(path, vantage, control_ports))
        except CaptureError as exc:
            unreadable.append(str(exc))
        except OSError as exc:
            unreadable.append(f"{path}: {exc.strerror or exc}")
    trace = merge_traces(traces)
    return Analysis(trace=trace, findings=diagnose(trace), unreadable=tuple(unreadable))
