"""Several captures of the same traffic -> one trace, one set of findings, one correlation.

Each FTP session seen at several vantage points is kept once, as seen nearest the client
(what the user typed and was told); its other copies contribute paths, NAT mappings, helper
rewrites and findings the nearest copy cannot show. A failure's `where` becomes the hop
between the last capture that saw the connection and the first that did not.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path as FsPath

from ftptrace.correlate.alg import Missed, Rewrite, Side, compare
from ftptrace.correlate.match import VANTAGE_ORDER, WINDOW, Identity, Matching, match
from ftptrace.correlate.path import Point, Translations, build_path
from ftptrace.correlate.prints import Fingerprints
from ftptrace.correlate.report import (
    ClockReport,
    ConnectionReport,
    Correlation,
    box_between_points,
    nat_mappings,
)
from ftptrace.diagnose.findings import Where
from ftptrace.model import Connection, DataChannel, Session, Trace
from ftptrace.vantages import POSITIONS


@dataclass(slots=True)
class Group:
    """One FTP session and its copies, by capture index."""

    copies: dict[int, Session]
    identity: Identity | None
    rep: int = 0
    channels: list[dict[int, DataChannel]] = field(default_factory=list)
    """Per channel of the representative copy: its copy in every capture."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Merged:
    trace: Trace
    groups: tuple[Group, ...]
    """Aligned with trace.sessions for the first len(groups) sessions."""
    attempts: tuple[dict[int, Connection], ...]
    """Aligned with trace.control_attempts: every capture's copy."""
    correlation: Correlation
    matching: Matching


def correlate_traces(traces: Sequence[Trace], prints: Sequence[Fingerprints]) -> Merged:
    m = match(prints)
    points = _points(traces, m)
    rank = {p.index: k for k, p in enumerate(points)}
    tr = _translations(m.identities)
    groups = _groups(traces, prints, m, rank)
    attempts = _attempts(traces, prints, m, rank)
    connections: list[ConnectionReport] = []
    nat_input: list[tuple[Identity, bool, str]] = []
    rewrites: list[Rewrite] = []
    missed: list[Missed] = []
    clients = {(i, s.client.ip) for g in groups for i, s in g.copies.items()}
    for si, g in enumerate(groups):
        rep = g.copies[g.rep]
        if g.identity is not None and len(g.identity.flows) > 1:
            path = build_path(g.identity.flows, points, True, tr)
            connections.append(ConnectionReport(kind="control", session=si, channel=None,
                                                attempt=None, label="control", path=path))
            nat_input.append((g.identity, True, "control"))
        if len(g.copies) < 2:
            continue
        for k, copies in enumerate(g.channels):
            ident = _channel_identity(copies, prints, m)
            ch = rep.data_channels[k]
            if ident is not None:
                path = build_path(ident.flows, points, ch.passive, tr)
                connections.append(ConnectionReport(kind="data", session=si, channel=k,
                                                    attempt=None, label=ch.label, path=path))
                nat_input.append((ident, ch.passive, "data"))
            found = _helpers(g, copies, prints, points, rank)
            rewrites += [x for x in found if isinstance(x, Rewrite)]
            missed += [x for x in found if isinstance(x, Missed)]
    for ai, tries in enumerate(attempts):
        cap = min(tries, key=rank.__getitem__)
        first = tries[cap]
        flow = prints[cap].flow(first.orig, first.resp)
        ident = m.identity(flow)
        if ident is None:
            continue
        if len(ident.flows) > 1 or (cap, first.orig.ip) in clients:
            path = build_path(ident.flows, points, True, tr)
            connections.append(ConnectionReport(kind="attempt", session=None, channel=None,
                                                attempt=ai, label="control", path=path))
            nat_input.append((ident, True, "control"))
    sessions = [_with_origin_view(g, rank) for g in groups]
    trace = Trace(
        captures=tuple(c for t in traces for c in t.captures),
        sessions=tuple(sessions),
        control_attempts=tuple(c[min(c, key=rank.__getitem__)] for c in attempts),
        warnings=tuple(w for t in traces for w in t.warnings),
    )
    names = {p.index: p.name for p in points}
    corr = Correlation(
        points=points,
        order_inferred=m.order.inferred,
        order_basis=m.order.basis,
        clocks=tuple(ClockReport(name=names[c.capture], offset=round(c.offset, 6),
                                 samples=c.samples) for c in m.clocks),
        nat_mappings=nat_mappings(nat_input, points),
        rewrites=tuple(rewrites),
        missed=tuple(missed),
        connections=tuple(connections),
        seen_at=tuple(tuple(names[i] for i in sorted(g.copies, key=rank.__getitem__))
                      for g in groups),
        notes=_notes(m, points, prints),
    )
    return Merged(trace=trace, groups=tuple(groups), attempts=tuple(attempts),
                  correlation=corr, matching=m)


def _with_origin_view(g: Group, rank: dict[int, int]) -> Session:
    """The representative session; a channel whose connection it never saw takes it from
    the copy nearest the side that opened it (the server's, in active mode), whose view of
    SYNs and answers is the authoritative one."""
    rep = g.copies[g.rep]
    channels = list(rep.data_channels)
    changed = False
    for k, copies in enumerate(g.channels):
        ch = channels[k]
        if ch.connection is not None:
            continue
        seen = [i for i, c in copies.items() if c.connection is not None]
        if not seen:
            continue
        origin = min(seen, key=rank.__getitem__) if ch.passive else max(
            seen, key=rank.__getitem__)
        other = copies[origin]
        assert other.connection is not None
        channels[k] = replace(ch, connection=other.connection, outcome=other.outcome,
                              inferred=other.inferred, matched_by=other.matched_by)
        changed = True
    return replace(rep, data_channels=tuple(channels)) if changed else rep


def _points(traces: Sequence[Trace], m: Matching) -> tuple[Point, ...]:
    caps = [t.captures[0] for t in traces]
    base = [FsPath(c.path).name for c in caps]
    out = []
    for i in m.order.captures:
        c = caps[i]
        name = c.vantage or (base[i] if base.count(base[i]) == 1 else c.path)
        pos = None if m.order.inferred else POSITIONS.get(c.vantage or "")
        out.append(Point(index=i, name=name, path=c.path, position=pos))
    return tuple(out)


def _translations(identities: list[Identity]) -> Translations:
    tr: Translations = {}
    for g in identities:
        items = list(g.flows.items())
        for i, a in items:
            for j, b in items:
                if i == j:
                    continue
                for x, y in ((a.orig.ip, b.orig.ip), (a.resp.ip, b.resp.ip)):
                    if x != y:
                        tr.setdefault((i, j), {}).setdefault(x, y)
    return tr


def _groups(traces: Sequence[Trace], prints: Sequence[Fingerprints], m: Matching,
            rank: dict[int, int]) -> list[Group]:
    by_key: dict[object, Group] = {}
    order: list[Group] = []
    for i, t in enumerate(traces):
        for s in t.sessions:
            ident = m.identity(prints[i].flow(s.control.orig, s.control.resp))
            key: object = id(ident) if ident is not None else ("solo", i, id(s))
            g = by_key.get(key)
            if g is None:
                g = by_key[key] = Group(copies={}, identity=ident)
                order.append(g)
            if i in g.copies and (ident is None or ident.flows.get(i) is not prints[i].flow(
                    s.control.orig, s.control.resp)):
                continue  # the same session twice in one capture (before and after NAT)
            g.copies[i] = s
    offsets = m.offsets
    for g in order:
        g.rep = min(g.copies, key=rank.__getitem__)
        g.channels = _align(g, offsets)
    order.sort(key=lambda g: g.copies[g.rep].control.first_ts - offsets[g.rep])
    return order


def _announce_ts(ch: DataChannel) -> float | None:
    if ch.announce_reply is not None:
        return ch.announce_reply.ts
    return ch.command.ts if ch.command is not None else None


def _align(g: Group, offsets: list[float]) -> list[dict[int, DataChannel]]:
    """Each channel of the representative with its copies: by position, else by time."""
    rep = g.copies[g.rep].data_channels
    out: list[dict[int, DataChannel]] = [{g.rep: ch} for ch in rep]
    for i, s in g.copies.items():
        if i == g.rep:
            continue
        if len(s.data_channels) == len(rep):
            for k, ch in enumerate(s.data_channels):
                out[k][i] = ch
            continue
        used: set[int] = set()
        for k, ch in enumerate(rep):
            t = _announce_ts(ch)
            best, best_d = None, WINDOW
            for x, other in enumerate(s.data_channels):
                to = _announce_ts(other)
                if x in used or other.via != ch.via or t is None or to is None:
                    continue
                d = abs((to - offsets[i]) - (t - offsets[g.rep]))
                if d < best_d:
                    best, best_d = x, d
            if best is not None:
                used.add(best)
                out[k][i] = s.data_channels[best]
    return out


def _channel_identity(copies: dict[int, DataChannel], prints: Sequence[Fingerprints],
                      m: Matching) -> Identity | None:
    for i, ch in copies.items():
        c = ch.connection
        if c is not None:
            ident = m.identity(prints[i].flow(c.orig, c.resp))
            if ident is not None:
                return ident
    return None


def _helpers(g: Group, copies: dict[int, DataChannel], prints: Sequence[Fingerprints],
             points: tuple[Point, ...], rank: dict[int, int]) -> list[Rewrite | Missed]:
    """Compare the announcement between neighbouring captures that saw it."""
    seen = sorted(copies, key=rank.__getitem__)
    out: list[Rewrite | Missed] = []
    for i, j in itertools.pairwise(seen):
        si, sj = g.copies[i], g.copies[j]
        a = Side(name=points[rank[i]].name, session=si, channel=copies[i],
                 flow=prints[i].flow(si.control.orig, si.control.resp))
        b = Side(name=points[rank[j]].name, session=sj, channel=copies[j],
                 flow=prints[j].flow(sj.control.orig, sj.control.resp))
        prefer = Where.SERVER_ROUTER if copies[i].passive else Where.CLIENT_ROUTER
        where = box_between_points(points[rank[i]], points[rank[j]], prefer)
        found = compare(a, b, where)
        if found is not None:
            out.append(found)
    return out


def _attempts(traces: Sequence[Trace], prints: Sequence[Fingerprints], m: Matching,
              rank: dict[int, int]) -> list[dict[int, Connection]]:
    by_key: dict[object, dict[int, Connection]] = {}
    for i, t in enumerate(traces):
        for c in t.control_attempts:
            ident = m.identity(prints[i].flow(c.orig, c.resp))
            key: object = id(ident) if ident is not None else ("solo", i, id(c))
            copies = by_key.setdefault(key, {})
            copies.setdefault(i, c)
    out = list(by_key.values())
    out.sort(key=lambda cs: min(c.first_ts for c in cs.values()))
    return out


def _notes(m: Matching, points: tuple[Point, ...], prints: Sequence[Fingerprints]) -> tuple[
        str, ...]:
    notes = []
    odd = sorted({p.vantage for p in prints if p.vantage and p.vantage not in VANTAGE_ORDER})
    if odd:
        notes.append(f"label(s) {', '.join(odd)} are not vantage points ftptrace knows ("
                     f"{', '.join(VANTAGE_ORDER)}): the order along the path is inferred")
    if m.order.inferred:
        notes.append("capture order " + " → ".join(p.name for p in points) + ": "
                     + m.order.basis)
    names = {p.index: p.name for p in points}
    for c in m.clocks:
        if abs(c.offset) >= 0.5:
            notes.append(f"clock of {names[c.capture]} runs {c.offset:+.3f}s against "
                         f"{names.get(0, 'the first capture')} "
                         f"({c.samples} packets matched); times corrected")
    shared = sum(1 for g in m.identities if len(g.flows) > 1)
    if len(points) > 1 and not shared:
        notes.append("no connection was seen in more than one capture: they do not show the "
                     "same traffic, so each is analysed on its own")
    weak = sum(1 for g in m.identities if g.how == "ip-id" and len(g.flows) > 1)
    if weak:
        notes.append(f"{weak} connection(s) matched by IP ID only: a box on the path rewrites "
                     "TCP sequence numbers")
    for p in prints:
        if p.dropped_flows:
            notes.append(f"{p.path}: {p.dropped_flows} connections not fingerprinted "
                         "(memory bound reached)")
    return tuple(notes)
