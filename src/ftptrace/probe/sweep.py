"""`ftptrace sweep`: which ports of a passive range does the server's router forward?

One SYN to every port (rate-limited, time-bounded) and one to the control port as a
baseline. A port is *forwarded* when the server itself answers: a SYN-ACK, or a RST that
travelled as many hops as the baseline SYN-ACK from port 21 (nothing listens there right
now, but the SYN reached the server). It is *not forwarded* when a box closer than the
server answers (a RST with fewer hops: the router's `reject`), an ICMP error comes back, or
nothing does (a `drop`). Silent ports are asked again `retries` times before they count.

Hop counts are TTL arithmetic (`trace.hop_distance`): the same evidence a replay uses to
tell a router's RST from the server's.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ftptrace.errors import UsageError
from ftptrace.net.model import IcmpError, Packet, Segment
from ftptrace.net.sources import LiveSniffer, host_answers_bpf
from ftptrace.probe.rawtcp import RawSender, suppress_rsts
from ftptrace.trace import hop_distance

DEFAULT_RATE = 2000.0
DEFAULT_WAIT = 1.0
MAX_PORTS = 65535
BATCH = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """What came back for one port."""

    kind: str
    """'synack', 'rst', 'icmp' or 'silent'."""
    sender: str | None = None
    ttl: int | None = None
    icmp: str | None = None


SILENT = Answer(kind="silent")


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepResult:
    target: str
    ports: tuple[int, ...]
    answers: dict[int, Answer]
    baseline_port: int
    baseline: Answer
    sent: int
    seconds: float
    rate: float
    warnings: tuple[str, ...] = ()
    learned_from: tuple[int, ...] = ()
    forwarded: tuple[int, ...] = field(default=())
    not_forwarded: tuple[int, ...] = field(default=())


def parse_ports(text: str) -> tuple[int, ...]:
    """`50000-50100`, `21,50000-50009` … (inclusive ranges)."""
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo_text, _, hi_text = part.partition("-")
        try:
            lo = int(lo_text)
            hi = int(hi_text) if hi_text else lo
        except ValueError:
            raise UsageError(f"--ports: not a port range: {part!r}") from None
        if not 0 < lo <= hi < 65536:
            raise UsageError(f"--ports: ports must be 1-65535, low to high: {part!r}")
        out.update(range(lo, hi + 1))
    if not out:
        raise UsageError("--ports: no ports given")
    return tuple(sorted(out))


def ranges(ports: Iterable[int]) -> str:
    """50000,50001,50002,50007 -> '50000-50002, 50007'."""
    s = sorted(set(ports))
    if not s:
        return "none"
    out: list[str] = []
    start = prev = s[0]
    for p in [*s[1:], -1]:
        if p == prev + 1:
            prev = p
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = p
    return ", ".join(out)


def classify(packets: Iterable[Packet], target: str, sport: int,
             ports: Iterable[int]) -> dict[int, Answer]:
    """The first answer per destination port to our SYNs from `sport` (pure: testable)."""
    wanted = set(ports)
    out: dict[int, Answer] = {}
    for p in packets:
        if type(p) is Segment:
            if p.src.ip != target or p.dst.port != sport or p.src.port not in wanted:
                continue
            if p.src.port in out and out[p.src.port].kind != "icmp":
                continue
            if p.is_synack:
                out[p.src.port] = Answer(kind="synack", sender=p.src.ip, ttl=p.ttl)
            elif p.is_rst:
                out[p.src.port] = Answer(kind="rst", sender=p.src.ip, ttl=p.ttl)
        elif isinstance(p, IcmpError):
            q = p.quoted_dst.port
            if p.quoted_src.port != sport or p.quoted_dst.ip != target or q not in wanted:
                continue
            out.setdefault(q, Answer(kind="icmp", sender=p.sender, ttl=p.ttl, icmp=p.kind))
    return out


def is_forwarded(a: Answer, baseline: Answer) -> bool | None:
    """True: the server answered. False: a closer box or nobody. None: cannot tell."""
    if a.kind == "synack":
        return True
    if a.kind in ("silent", "icmp"):
        return False
    if baseline.ttl is None or a.ttl is None:
        return None
    return hop_distance(a.ttl) == hop_distance(baseline.ttl)


def split(result_answers: dict[int, Answer], ports: Sequence[int],
          baseline: Answer) -> tuple[tuple[int, ...], tuple[int, ...]]:
    fwd, nof = [], []
    for p in ports:
        verdict = is_forwarded(result_answers.get(p, SILENT), baseline)
        if verdict:
            fwd.append(p)
        elif verdict is False:
            nof.append(p)
    return tuple(fwd), tuple(nof)


def run_sweep(target: str, ports: Sequence[int], *, baseline_port: int = 21,
              rate: float = DEFAULT_RATE, wait: float = DEFAULT_WAIT, retries: int = 1,
              iface: str | None = None, learned_from: tuple[int, ...] = ()) -> SweepResult:
    """Send the SYNs, collect the answers, classify. Needs root (raw socket + sniffer)."""
    if not 0 < len(ports) <= MAX_PORTS:
        raise UsageError("sweep needs 1-65535 ports")
    if not 1 <= rate <= 100_000:
        raise UsageError("--rate must be 1-100000 packets per second")
    if not 0 < wait <= 30:
        raise UsageError("--wait must be between 0 and 30 seconds")
    sniffer = LiveSniffer(iface, host_answers_bpf(target), hosts=(target,))
    sport = random.randint(40000, 59999)
    seq = random.getrandbits(32)
    warnings: list[str] = []
    start = time.monotonic()
    sender = RawSender(target)
    try:
        sniffer.start()
        with suppress_rsts(sport, sport) as warning:
            if warning:
                warnings.append(warning)
            todo = [baseline_port, *[p for p in ports if p != baseline_port]]
            for _ in range(1 + max(0, retries)):
                _paced(sender, sport, todo, seq, rate)
                answered = _wait_answers(sniffer, target, sport, todo, wait)
                todo = [p for p in todo if p not in answered]
                if not todo:
                    break
    finally:
        sniffer.stop()
        sender.close()
    answers = classify(sniffer.snapshot(), target, sport, [baseline_port, *ports])
    baseline = answers.get(baseline_port, SILENT)
    if baseline.kind != "synack":
        warnings.append(f"port {baseline_port} did not answer with a SYN-ACK: without the "
                        "server's own hop count a RST cannot be told from the router's")
    port_answers = {p: answers.get(p, SILENT) for p in ports}
    fwd, nof = split(port_answers, ports, baseline)
    return SweepResult(target=target, ports=tuple(ports), answers=port_answers,
                       baseline_port=baseline_port, baseline=baseline, sent=sender.sent,
                       seconds=time.monotonic() - start, rate=rate,
                       warnings=tuple(warnings + sniffer.warnings), learned_from=learned_from,
                       forwarded=fwd, not_forwarded=nof)


def _paced(sender: RawSender, sport: int, ports: Sequence[int], seq: int, rate: float) -> None:
    """Send one SYN per port at no more than `rate` per second (batches of BATCH)."""
    t0 = time.monotonic()
    for i, port in enumerate(ports):
        if i and i % BATCH == 0:
            due = t0 + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        sender.send(sport, port, seq)


def _wait_answers(sniffer: LiveSniffer, target: str, sport: int, ports: Sequence[int],
                  wait: float) -> set[int]:
    """Poll the capture until every port answered or `wait` seconds passed; the answered set."""
    deadline = time.monotonic() + wait
    want = set(ports)
    answered: set[int] = set()
    while True:
        answered = set(classify(sniffer.snapshot(), target, sport, want))
        if answered >= want or time.monotonic() >= deadline:
            return answered
        time.sleep(0.02)


def sweep_lines(r: SweepResult) -> list[str]:
    b = r.baseline
    out = [f"sweep {r.target}: {len(r.ports)} ports ({ranges(r.ports)}), {r.sent} SYNs in "
           f"{r.seconds:.2f}s (rate limit {r.rate:g}/s)"]
    if r.learned_from:
        out.append(f"range learned from PASV replies: ports {ranges(r.learned_from)}")
    if b.kind == "synack" and b.ttl is not None:
        out.append(f"baseline: port {r.baseline_port} answered SYN-ACK with TTL {b.ttl} "
                   f"({hop_distance(b.ttl)} hops): the server itself")
    else:
        out.append(f"baseline: port {r.baseline_port}: {b.kind}")
    groups: dict[str, list[int]] = {}
    for p in r.ports:
        a = r.answers[p]
        verdict = is_forwarded(a, b)
        if a.kind == "synack":
            why = "SYN-ACK from the server (listening)"
        elif a.kind == "rst" and verdict:
            why = f"RST from the server, TTL {a.ttl} (reached it; nothing listening now)"
        elif a.kind == "rst" and verdict is False:
            why = (f"RST from {a.sender} TTL {a.ttl}: {hop_distance(a.ttl or 0)} hops, closer "
                   "than the server — the router refused it")
        elif a.kind == "rst":
            why = f"RST from {a.sender} TTL {a.ttl} (sender unknown: no baseline)"
        elif a.kind == "icmp":
            why = f"ICMP {a.icmp} from {a.sender}"
        else:
            why = "no answer (dropped)"
        groups.setdefault(("forwarded" if verdict else "not forwarded" if verdict is False
                           else "unknown") + "|" + why, []).append(p)
    for key, ports in groups.items():
        label, why = key.split("|", 1)
        out.append(f"  {label:<14} {ranges(ports):<24} {len(ports):>5} port(s): {why}")
    out.append(f"forwarded range: {ranges(r.forwarded)}")
    out += [f"warning: {w}" for w in r.warnings]
    return out


def sweep_dict(r: SweepResult) -> dict[str, Any]:
    return {
        "target": r.target, "ports": ranges(r.ports), "sent": r.sent,
        "seconds": round(r.seconds, 3), "rate": r.rate,
        "baseline": {"port": r.baseline_port, "kind": r.baseline.kind, "ttl": r.baseline.ttl},
        "forwarded": ranges(r.forwarded), "not_forwarded": ranges(r.not_forwarded),
        "learned_from": list(r.learned_from),
        "answers": {str(p): {"kind": a.kind, "sender": a.sender, "ttl": a.ttl, "icmp": a.icmp}
                    for p, a in sorted(r.answers.items())},
        "warnings": list(r.warnings),
    }
