"""Recognise the same connection in several captures, estimate clock offsets, order captures.

Identity, strongest first: the SYN's initial sequence number (RFC 9293 §3.4.1: chosen at
random per connection, and left alone by Linux NAT and home routers); for a control
connection whose handshake was not captured, its segments' (IP ID, payload) pairs; for a
box that rewrites ISNs (pf `modulate state`, some firewalls), the SYN's IP ID close in time.

Clocks of different machines disagree: the offset between two captures is the median of
(ts_b - ts_a) over packets seen in both, taken in both directions so one-way latency cancels.
Every later time comparison uses corrected times, so captures skewed by minutes still match.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ftptrace.correlate.prints import Fingerprints, Flow, Sample
from ftptrace.trace import hop_distance
from ftptrace.vantages import VANTAGES

WINDOW = 60.0
"""Seconds two sightings of one packet may differ after clock correction."""
IPID_WINDOW = 2.0
"""Tighter window for the weaker IP-ID-only match of a SYN whose ISN was rewritten."""
VANTAGE_ORDER = VANTAGES


@dataclass(slots=True)
class Identity:
    """One TCP connection across captures: at most one flow per capture."""

    flows: dict[int, Flow] = field(default_factory=dict)
    aliases: list[tuple[int, Flow]] = field(default_factory=list)
    """The same connection twice in one capture (a capture on a router's bridge or on
    `any` sees a packet before and after NAT): recognised, not used for the path."""
    how: str = "isn"
    """'isn', 'payload' (control segments) or 'ip-id' (ISN rewritten on the way)."""

    def first_ts(self, offsets: Sequence[float]) -> float:
        return min(f.first_ts - offsets[i] for i, f in self.flows.items())


@dataclass(frozen=True, slots=True, kw_only=True)
class Clock:
    capture: int
    offset: float
    """Seconds this capture's clock is ahead of the reference capture's."""
    samples: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    captures: tuple[int, ...]
    """Capture indices, client side first."""
    inferred: bool
    basis: str


@dataclass(slots=True)
class Matching:
    identities: list[Identity]
    by_flow: dict[int, Identity]
    """id(flow) -> its identity."""
    clocks: list[Clock]
    order: Order

    def identity(self, flow: Flow | None) -> Identity | None:
        return None if flow is None else self.by_flow.get(id(flow))

    @property
    def offsets(self) -> list[float]:
        return [c.offset for c in self.clocks]


def match(prints: Sequence[Fingerprints]) -> Matching:
    """Group every flow of every capture into identities; then clocks and the capture order."""
    flows = [p.all_flows() for p in prints]
    groups = _by_isn(flows)
    groups += _by_payload(flows, groups)
    offsets, _ = _clocks(len(prints), groups)
    groups = _split_far(groups, offsets)
    groups = _by_ip_id(groups, offsets)
    offsets, clocks = _clocks(len(prints), groups)
    by_flow = {id(f): g for g in groups for f in g.flows.values()}
    by_flow.update((id(f), g) for g in groups for _, f in g.aliases)
    order = _order(prints, groups, offsets)
    return Matching(identities=groups, by_flow=by_flow, clocks=clocks, order=order)


# --- identity ---------------------------------------------------------------------------


def _by_isn(flows: list[list[Flow]]) -> list[Identity]:
    index: dict[int, list[tuple[int, Flow]]] = defaultdict(list)
    for i, fl in enumerate(flows):
        for f in fl:
            if f.isn is not None:
                index[f.isn].append((i, f))
    out = []
    for bucket in index.values():
        clusters: list[Identity] = []
        for i, f in sorted(bucket, key=lambda x: x[1].first_ts):
            home = next((c for c in clusters if _same_syn(c, f)), None)
            if home is None:
                clusters.append(Identity(flows={i: f}))
            elif i not in home.flows:
                home.flows[i] = f
            elif abs(f.first_ts - home.flows[i].first_ts) <= WINDOW:
                home.aliases.append((i, f))
            else:
                clusters.append(Identity(flows={i: f}))  # the ISN reused much later
        out += clusters
    return out


def _same_syn(g: Identity, f: Flow) -> bool:
    """Two SYNs with one ISN: the same packet if an IP ID matches, else if NAT kept a port.

    Equal ISNs alone are not enough: a test harness or a broken stack may reuse one, and a
    data connection must not be taken for its control connection.
    """
    ids = {s.ip_id for s in f.syns if s.ip_id}
    for other in g.flows.values():
        other_ids = {s.ip_id for s in other.syns if s.ip_id}
        if ids & other_ids:
            return True
        if ids and other_ids:
            if other.orig.port == f.orig.port or other.resp.port == f.resp.port:
                return True
            continue
        if {other.orig.port, other.resp.port} & {f.orig.port, f.resp.port}:
            return True
    return False


def _signature(f: Flow) -> set[tuple[bool, int | None, bytes]]:
    """(client side?, IP ID, payload) of the first control segments."""
    return {(s.from_orig, s.ip_id, s.payload[:48]) for s in f.segments[:24] if s.ip_id}


def _by_payload(flows: list[list[Flow]], groups: list[Identity]) -> list[Identity]:
    """Control connections seen without their SYN somewhere: join them by segments."""
    loose = [(i, f) for i, fl in enumerate(flows) for f in fl if f.isn is None and f.segments]
    if not loose:
        return []
    candidates = [
        (i, f) for g in groups for i, f in g.flows.items() if f.control and f.segments
    ]
    owner = {id(f): g for g in groups for f in g.flows.values()}
    out: list[Identity] = []
    for i, f in loose:
        sig = _signature(f)
        best: tuple[int, Identity | None] = (1, None)
        for j, other in candidates:
            if j == i:
                continue
            common = len(sig & _signature(other))
            target = owner.get(id(other))
            if common > best[0] and target is not None and i not in target.flows:
                best = (common, target)
        if best[1] is not None:
            best[1].flows[i] = f
            owner[id(f)] = best[1]
        else:
            g = Identity(flows={i: f}, how="payload")
            out.append(g)
            owner[id(f)] = g
            candidates.append((i, f))
    return out


def _split_far(groups: list[Identity], offsets: list[float]) -> list[Identity]:
    """An ISN shared by sightings far apart in corrected time is a coincidence: split."""
    out = []
    for g in groups:
        if len(g.flows) < 2:
            out.append(g)
            continue
        items = sorted(g.flows.items(), key=lambda x: x[1].first_ts - offsets[x[0]])
        cur = Identity(how=g.how)
        pieces = [cur]
        anchor = items[0][1].first_ts - offsets[items[0][0]]
        for i, f in items:
            t = f.first_ts - offsets[i]
            if t - anchor > WINDOW:
                cur, anchor = Identity(how=g.how), t
                pieces.append(cur)
            cur.flows[i] = f
        for i, f in g.aliases:
            home = next((p for p in pieces if p.flows.get(i) is not None and abs(
                p.flows[i].first_ts - f.first_ts) <= WINDOW), None)
            (home or pieces[0]).aliases.append((i, f))
        out += pieces
    return out


def _by_ip_id(groups: list[Identity], offsets: list[float]) -> list[Identity]:
    """Identities in disjoint captures whose SYN has one IP ID at nearly the same time: one
    connection whose ISN a box on the path rewrote (pf `modulate state`, some firewalls)."""
    index: dict[int, list[Identity]] = defaultdict(list)
    for g in groups:
        for ip_id in {f.syns[0].ip_id for f in g.flows.values() if f.syns and f.syns[0].ip_id}:
            index[ip_id].append(g)
    into: dict[int, Identity] = {}

    def find(g: Identity) -> Identity:
        while id(g) in into:
            g = into[id(g)]
        return g

    for same in index.values():
        if len(same) < 2:
            continue
        same.sort(key=lambda g: g.first_ts(offsets))
        for x, a in enumerate(same):
            for b in same[x + 1 :]:
                ha, hb = find(a), find(b)
                if ha is hb or set(ha.flows) & set(hb.flows):
                    continue
                if abs(hb.first_ts(offsets) - ha.first_ts(offsets)) > IPID_WINDOW:
                    continue
                if not _syn_like(ha, next(iter(hb.flows.values()))):
                    continue
                ha.flows.update(hb.flows)
                ha.aliases += hb.aliases
                ha.how = "ip-id"
                into[id(hb)] = ha
    return [g for g in groups if id(g) not in into]


def _syn_like(g: Identity, f: Flow) -> bool:
    """Same SYN count and at least one port in common: NAT rarely changes both ports."""
    other = next(iter(g.flows.values()))
    return len(other.syns) == len(f.syns) and bool(
        {other.orig.port, other.resp.port} & {f.orig.port, f.resp.port}
    )


# --- clocks -------------------------------------------------------------------------------


def pairs(a: Flow, b: Flow) -> list[tuple[Sample, Sample]]:
    """Packets seen in both flows: SYNs, SYN-ACK, RST, and control segments."""
    out: list[tuple[Sample, Sample]] = []
    if a.syns and b.syns:
        out.append((a.syns[0], b.syns[0]))
    if a.synack is not None and b.synack is not None:
        out.append((a.synack, b.synack))
    if a.rst is not None and b.rst is not None and a.rst.from_orig == b.rst.from_orig:
        out.append((a.rst, b.rst))
    if a.segments and b.segments:
        index = {(s.from_orig, s.ip_id, s.payload): s for s in b.segments if s.ip_id}
        index_seq = {(s.from_orig, s.seq, s.payload): s for s in b.segments}
        for s in a.segments:
            o = index.get((s.from_orig, s.ip_id, s.payload)) if s.ip_id else None
            if o is None:
                o = index_seq.get((s.from_orig, s.seq, s.payload))
            if o is not None:
                out.append((s, o))
    return out


def _clocks(n: int, groups: list[Identity]) -> tuple[list[float], list[Clock]]:
    diffs: dict[tuple[int, int], list[float]] = defaultdict(list)
    for g in groups:
        items = sorted(g.flows.items())
        for x, (i, a) in enumerate(items):
            for j, b in items[x + 1 :]:
                got = diffs[(i, j)]
                if len(got) < 2000:
                    got.extend(sb.ts - sa.ts for sa, sb in pairs(a, b))
    offsets: list[float | None] = [None] * n
    counts = [0] * n
    if n:
        offsets[0] = 0.0
    # Breadth-first from capture 0 over the best-supported pairs.
    changed = True
    while changed:
        changed = False
        for (i, j), d in sorted(diffs.items(), key=lambda kv: -len(kv[1])):
            if not d:
                continue
            med = statistics.median(d)
            oi, oj = offsets[i], offsets[j]
            if oi is not None and oj is None:
                offsets[j], counts[j], changed = oi + med, len(d), True
            elif oj is not None and oi is None:
                offsets[i], counts[i], changed = oj - med, len(d), True
    final = [o if o is not None else 0.0 for o in offsets]
    clocks = [Clock(capture=i, offset=final[i], samples=counts[i]) for i in range(n)]
    return final, clocks


# --- order along the path -------------------------------------------------------------------


def _order(prints: Sequence[Fingerprints], groups: list[Identity], offsets: list[float]) -> Order:
    labels = [p.vantage for p in prints]
    if all(v in VANTAGE_ORDER for v in labels):
        idx = sorted(range(len(prints)), key=lambda i: (VANTAGE_ORDER.index(labels[i] or ""), i))
        return Order(captures=tuple(idx), inferred=False, basis="vantage labels")
    # Hops from the client (TTL of client->server control packets) and from the server.
    from_client: dict[int, list[int]] = defaultdict(list)
    from_server: dict[int, list[int]] = defaultdict(list)
    shared = 0
    for g in groups:
        if len(g.flows) < 2 or not any(f.control for f in g.flows.values()):
            continue
        shared += 1
        for i, f in g.flows.items():
            for s in (*f.syns[:1], *f.segments[:20]):
                (from_client if s.from_orig else from_server)[i].append(hop_distance(s.ttl))
            if f.synack is not None:
                from_server[i].append(hop_distance(f.synack.ttl))

    def key(i: int) -> tuple[float, float]:
        c = statistics.median(from_client[i]) if from_client[i] else 0.0
        s = statistics.median(from_server[i]) if from_server[i] else 0.0
        return (c, -s)

    idx = sorted(range(len(prints)), key=key)
    # Captures on one link see the same TTLs: the earlier one (client->server) comes first.
    idx = _tie_break(idx, key, groups)
    basis = (
        f"inferred from TTL hop counts and timestamps of {shared} connection(s) seen in "
        "several captures (label them LABEL=FILE to fix the order)"
    )
    return Order(captures=tuple(idx), inferred=True, basis=basis)


def _tie_break(
    idx: list[int], keyf: Callable[[int], tuple[float, float]], groups: list[Identity]
) -> list[int]:
    out = list(idx)
    for _ in range(len(out)):
        swapped = False
        for x in range(len(out) - 1):
            a, b = out[x], out[x + 1]
            if keyf(a) == keyf(b) and _later_on_path(a, b, groups):
                out[x], out[x + 1] = b, a
                swapped = True
        if not swapped:
            break
    return out


def _later_on_path(a: int, b: int, groups: list[Identity]) -> bool:
    """True when capture `a` sits after `b` going client -> server.

    For packets client->server, ts_b - ts_a = offset + latency(a->b); server->client it is
    offset - latency. The difference of the two means is twice the latency, offset-free.
    """
    to_server: list[float] = []
    to_client: list[float] = []
    for g in groups:
        fa, fb = g.flows.get(a), g.flows.get(b)
        if fa is None or fb is None or not fa.control:
            continue
        for sa, sb in pairs(fa, fb):
            (to_server if sa.from_orig else to_client).append(sb.ts - sa.ts)
    if not to_server or not to_client:
        return False
    return statistics.mean(to_server) - statistics.mean(to_client) < 0
