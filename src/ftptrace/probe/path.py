"""`ftptrace path`: TTL-limited SYNs to the data port and to port 21, side by side.

tcptraceroute/firewalk style: a SYN with TTL n dies at the n-th router, which reports
ICMP time-exceeded from its own address (RFC 792; RFC 1812 §5.3.1), so each hop names
itself. Port 21 is the control: wherever 21 goes on and the data port stops, the box at
that hop filters the data port. Three shapes:

- the data port gets a SYN-ACK: it reaches a listener (forwarded);
- it gets a RST (or ICMP unreachable) at hop k while 21 still gets time-exceeded at hop k:
  the box at hop k refuses it (a router's `reject`);
- it goes silent from hop k on while 21 answers at hop k: the box answering 21 at hop k
  (a NAT router that DNATs 21 onwards) drops the data port.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ftptrace.errors import UsageError
from ftptrace.net.model import IcmpError, Packet, Segment
from ftptrace.net.sources import LiveSniffer, host_answers_bpf
from ftptrace.probe.rawtcp import RawSender, suppress_rsts

DEFAULT_MAX_HOPS = 16
DEFAULT_WAIT = 1.0
GAP = 0.002
"""Seconds between probes: below any router's ICMP rate limit burst."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HopAnswer:
    kind: str
    """'time-exceeded', 'synack', 'rst', an ICMP unreachable kind, or 'silent'."""
    sender: str | None = None
    ttl: int | None = None

    @property
    def terminal(self) -> bool:
        """The probe ended here (reached a host that answered, or was refused)."""
        return self.kind not in ("time-exceeded", "silent")

    def text(self) -> str:
        if self.kind == "silent":
            return "*"
        label = {"time-exceeded": "", "synack": " SYN-ACK", "rst": " RST"}.get(
            self.kind, f" {self.kind}")
        return f"{self.sender}{label}"


SILENT = HopAnswer(kind="silent")


@dataclass(frozen=True, slots=True, kw_only=True)
class Hop:
    ttl: int
    data: HopAnswer
    control: HopAnswer


@dataclass(frozen=True, slots=True, kw_only=True)
class PathResult:
    target: str
    data_port: int
    control_port: int
    hops: tuple[Hop, ...]
    verdict: str
    stopped_at: int | None
    """The hop (TTL) whose box stops the data port, None when the data port gets through."""
    stopped_by: str | None
    reached: bool
    sent: int
    seconds: float
    warnings: tuple[str, ...] = ()


def collect(packets: Iterable[Packet], target: str,
            probes: dict[int, tuple[int, str]]) -> dict[tuple[int, str], HopAnswer]:
    """Answers keyed by (ttl, 'data'|'control'); `probes` maps source port -> that key."""
    out: dict[tuple[int, str], HopAnswer] = {}
    for p in packets:
        if type(p) is Segment:
            key = probes.get(p.dst.port)
            if key is None or p.src.ip != target or key in out:
                continue
            if p.is_synack:
                out[key] = HopAnswer(kind="synack", sender=p.src.ip, ttl=p.ttl)
            elif p.is_rst:
                out[key] = HopAnswer(kind="rst", sender=p.src.ip, ttl=p.ttl)
        elif isinstance(p, IcmpError):
            key = probes.get(p.quoted_src.port)
            if key is None or p.quoted_dst.ip != target or key in out:
                continue
            out[key] = HopAnswer(kind=p.kind, sender=p.sender, ttl=p.ttl)
    return out


def analyze(target: str, data_port: int, control_port: int,
            answers: dict[tuple[int, str], HopAnswer], max_hops: int
            ) -> tuple[tuple[Hop, ...], str, int | None, str | None, bool]:
    """Hops to show, the verdict line, the stopping hop and box, whether data got through."""
    hops = [Hop(ttl=t, data=answers.get((t, "data"), SILENT),
                control=answers.get((t, "control"), SILENT)) for t in range(1, max_hops + 1)]
    last = 0
    ends: dict[str, int] = {}
    for h in hops:
        if h.data.kind != "silent" or h.control.kind != "silent":
            last = h.ttl
        for name, a in (("data", h.data), ("control", h.control)):
            if a.terminal:
                ends.setdefault(name, h.ttl)
    # Past the hop where port 21 (and the data port, if it ends later) ended, every
    # further line would only repeat that end.
    stop = max(ends.values()) if "control" in ends else last + 1
    shown = tuple(hops[: min(max_hops, stop)])
    for h in hops:
        d, c = h.data, h.control
        if d.kind == "synack":
            return shown, (f"data port {data_port} reaches a listener at hop {h.ttl} "
                           f"({d.sender}): it is forwarded"), None, None, True
        if d.terminal and c.terminal and d.sender == c.sender:
            return shown, (f"data port {data_port} reaches the same host as port "
                           f"{control_port} at hop {h.ttl} ({d.sender}), which answers "
                           f"{d.kind}: the path forwards it (nothing listens there right now; "
                           "a passive port opens only after PASV)"), None, None, True
        if d.terminal:
            more = (f" while port {control_port} goes on" if not c.terminal else "")
            return shown, (f"hop {h.ttl} ({d.sender}) refuses data port {data_port} "
                           f"({d.kind}){more}: that box blocks it"), h.ttl, d.sender, False
        if d.kind == "silent" and c.kind != "silent":
            prev = next((x for x in reversed(hops[: h.ttl - 1]) if x.data.kind != "silent"),
                        None)
            after = (f"dies after hop {prev.ttl} ({prev.data.sender})" if prev else
                     "gets no answer at any hop")
            return shown, (f"data port {data_port} {after}; hop {h.ttl} ({c.sender}) passes "
                           f"port {control_port} but drops the data port"), h.ttl, c.sender, False
    return shown, (f"neither port answered within {max_hops} hops: cannot place the drop"), \
        None, None, False


def run_path(target: str, data_port: int, *, control_port: int = 21,
             max_hops: int = DEFAULT_MAX_HOPS, wait: float = DEFAULT_WAIT,
             iface: str | None = None) -> PathResult:
    if not 1 <= max_hops <= 64:
        raise UsageError("--max-hops must be 1-64")
    if not 0 < wait <= 30:
        raise UsageError("--wait must be between 0 and 30 seconds")
    sniffer = LiveSniffer(iface, host_answers_bpf(target), hosts=(target,))
    base = random.randint(40000, 60000 - 2 * max_hops)
    probes: dict[int, tuple[int, str]] = {}
    seq = random.getrandbits(32)
    warnings: list[str] = []
    start = time.monotonic()
    sender = RawSender(target)
    try:
        sniffer.start()
        with suppress_rsts(base, base + 2 * max_hops) as warning:
            if warning:
                warnings.append(warning)
            for ttl in range(1, max_hops + 1):
                for k, (port, name) in enumerate(((data_port, "data"),
                                                  (control_port, "control"))):
                    sport = base + 2 * (ttl - 1) + k
                    probes[sport] = (ttl, name)
                    sender.send(sport, port, seq, ttl=ttl)
                    time.sleep(GAP)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                got = collect(sniffer.snapshot(), target, probes)
                if _settled(got):
                    break
                time.sleep(0.02)
    finally:
        sniffer.stop()
        sender.close()
    answers = collect(sniffer.snapshot(), target, probes)
    hops, verdict, at, by, reached = analyze(target, data_port, control_port, answers, max_hops)
    return PathResult(target=target, data_port=data_port, control_port=control_port, hops=hops,
                      verdict=verdict, stopped_at=at, stopped_by=by, reached=reached,
                      sent=sender.sent, seconds=time.monotonic() - start,
                      warnings=tuple(warnings + sniffer.warnings))


def _settled(got: dict[tuple[int, str], HopAnswer]) -> bool:
    """Both probes ended and every hop before each end answered: nothing more to wait for."""
    for name in ("data", "control"):
        end = min((t for (t, n), a in got.items() if n == name and a.terminal), default=None)
        if end is None or any((t, name) not in got for t in range(1, end)):
            return False
    return True


def path_lines(r: PathResult) -> list[str]:
    out = [f"path to {r.target}: TTL-limited SYNs to port {r.data_port} (data) and "
           f"{r.control_port} (control), {r.sent} sent in {r.seconds:.2f}s",
           f"{'hop':>3}  {'data port ' + str(r.data_port):<32} control port {r.control_port}"]
    for h in r.hops:
        out.append(f"{h.ttl:>3}  {h.data.text():<32} {h.control.text()}")
    out.append(r.verdict)
    out += [f"warning: {w}" for w in r.warnings]
    return out


def path_dict(r: PathResult) -> dict[str, Any]:
    def ans(a: HopAnswer) -> dict[str, Any]:
        return {"kind": a.kind, "sender": a.sender, "ttl": a.ttl}

    return {"target": r.target, "data_port": r.data_port, "control_port": r.control_port,
            "hops": [{"ttl": h.ttl, "data": ans(h.data), "control": ans(h.control)}
                     for h in r.hops],
            "verdict": r.verdict, "stopped_at": r.stopped_at, "stopped_by": r.stopped_by,
            "reached": r.reached, "sent": r.sent, "seconds": round(r.seconds, 3),
            "warnings": list(r.warnings)}
