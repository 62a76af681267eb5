"""The replay use case: capture files in, `Analysis` (Trace + findings) out.

Each capture is read in one streaming pass; `vantage` labels (client, server-router-wan …)
travel with it so that multi-vantage correlation can place failures between captures.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftptrace.diagnose.findings import Finding
from ftptrace.diagnose.rules import diagnose
from ftptrace.errors import CaptureError
from ftptrace.fastpath import feed_batches, feed_frames
from ftptrace.model import CaptureInfo, Session, Trace
from ftptrace.net.decode import decode, port_prefilter
from ftptrace.net.pcap import CaptureReader, open_capture
from ftptrace.trace import TraceBuilder, merge_traces
from ftptrace.vantages import VANTAGES as VANTAGES  # re-exported
from ftptrace.vantages import parse_input as parse_input  # re-exported

if TYPE_CHECKING:
    from ftptrace.correlate import Correlation
    from ftptrace.net.model import Packet


@dataclass(frozen=True, slots=True, kw_only=True)
class Analysis:
    """What every renderer takes: the trace and the findings diagnosed from it."""

    trace: Trace
    findings: tuple[Finding, ...]
    unreadable: tuple[str, ...] = ()
    """Inputs that could not be read at all (message per input)."""
    correlation: Correlation | None = None
    """Several captures of the same traffic: paths, NAT mappings, helper rewrites (issue 6)."""


def read_trace(
    path: Path,
    vantage: str | None = None,
    control_ports: frozenset[int] = frozenset({21}),
    collector: Callable[[Packet], None] | None = None,
    on_session: Callable[[Session], None] | None = None,
    reader: CaptureReader | None = None,
) -> Trace:
    """Stream one capture through the decoder and the trace builder (and `collector`).

    With `on_session`, each session is handed over as soon as it is over and the returned
    Trace holds none (constant memory: `stream.stream_json`). `reader`: `path` already
    opened (`entry` opens it first, so that its indexing helper starts meanwhile); it is
    closed here.
    """
    with reader or open_capture(path) as reader, _fewer_collections():
        builder = TraceBuilder(
            CaptureInfo(path=str(path), vantage=vantage),
            control_ports=control_ports,
            on_session=on_session,
        )
        ports = builder.ports  # live set: grows as channels are announced
        prefilter = port_prefilter(ports)
        reader.keep = prefilter
        if prefilter.batched:
            reader.keep_batch = prefilter
        batches = reader.batches() if collector is None else None
        if batches is not None:
            feed_batches(batches, builder, ports)
        elif collector is None:
            feed_frames(reader, builder, ports)
        else:
            build, collect = builder.feed, collector
            for frame, ts, linktype, data, _orig, _iface in reader:
                pkt = decode(linktype, data, ts, frame, ports)
                if pkt is not None:
                    build(pkt)
                    collect(pkt)
        trace = builder.finish(tuple(reader.warnings))
    # The builder counts decoded packets; the capture's size is what the reader read.
    return replace(trace, captures=(replace(trace.captures[0], packets=reader.packets),))


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector a hundred times less often while reading.

    A replay allocates a few objects per kept packet and frees nearly all of them by
    reference counting (the builder breaks its own cycles when a session ends), yet the
    default threshold (700 allocations) runs a collection every few hundred packets, and
    each one walks the young objects: a seventh of the replay's time on the 2 M-packet
    bench, for nothing. Memory stays bounded: collections still run, just less often.
    """
    old = gc.get_threshold()
    gc.set_threshold(70_000, old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def analyze(
    inputs: Sequence[tuple[str | None, Path]], control_ports: frozenset[int] = frozenset({21})
) -> Analysis:
    """Read every input; unreadable ones are reported, the rest analysed together.

    Two or more readable captures are correlated (issue 6): each session is kept once,
    failures are placed between the captures that saw them and those that did not.
    """
    from ftptrace.correlate import Fingerprints, correlate

    traces: list[Trace] = []
    prints: list[Fingerprints] = []
    unreadable: list[str] = []
    several = len(inputs) > 1
    for vantage, path in inputs:
        fp = Fingerprints(str(path), vantage, control_ports) if several else None
        try:
            traces.append(read_trace(path, vantage, control_ports, fp))
        except CaptureError as exc:
            unreadable.append(str(exc))
            continue
        except OSError as exc:
            unreadable.append(f"{path}: {exc.strerror or exc}")
            continue
        if fp is not None:
            prints.append(fp)
    if len(traces) > 1:
        c = correlate(traces, prints)
        return Analysis(
            trace=c.trace,
            findings=c.findings,
            unreadable=tuple(unreadable),
            correlation=c.correlation,
        )
    trace = merge_traces(traces)
    return Analysis(trace=trace, findings=diagnose(trace), unreadable=tuple(unreadable))


def document(analysis: Analysis) -> dict[str, Any]:
    """The `ftptrace/1` document, with the correlation keys when there is a correlation."""
    from ftptrace.render.json import to_document

    doc = to_document(analysis)
    if analysis.correlation is not None:
        from ftptrace.correlate import annotate

        annotate(doc, analysis.correlation)
    return doc
