"""One connection hop by hop: where it was seen, how it looked there, and where it died.

Vantage points sit between the boxes of the field guide's path (client | client router |
internet | server router | server), at the positions the diagrams use. A packet seen at one
point and missing at the next died in the box between them. Two refinements keep that
honest: a capture on a router's interface sees packets both arriving and leaving, so a
packet that still has the TTL it had one capture earlier has not been forwarded yet (the
router itself consumed it: a LAN client dialling the router's WAN address); and a packet
that reached the last capture on its way, with no capture beyond, is charged to the next
box only when exactly one box remains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ftptrace.correlate.prints import Flow
from ftptrace.diagnose.findings import Where
from ftptrace.model import FrameRef
from ftptrace.net.model import Endpoint

BOXES: tuple[tuple[float, Where], ...] = (
    (0.0, Where.CLIENT_HOST),
    (1.0, Where.CLIENT_ROUTER),
    (2.0, Where.INTERNET),
    (3.0, Where.SERVER_ROUTER),
    (4.0, Where.SERVER_HOST),
)
ROUTER_OF = {
    "client-router-lan": Where.CLIENT_ROUTER,
    "client-router-wan": Where.CLIENT_ROUTER,
    "server-router-wan": Where.SERVER_ROUTER,
    "server-router-lan": Where.SERVER_ROUTER,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    """One capture as a point on the path."""

    index: int
    name: str
    """Its vantage label, or the file name when unlabelled."""
    path: str
    position: float | None
    """Diagram position when labelled; None when the order had to be inferred."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Hop:
    point: Point
    orig: Endpoint
    resp: Endpoint
    seen: bool
    predicted: bool = False
    """Addresses of an unseen hop, guessed from the NAT mappings learned elsewhere."""
    frame: int | None = None
    ttl: int | None = None
    answered: bool = False
    rst: bool = False
    icmp: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Path:
    to_server: bool
    hops: tuple[Hop, ...]
    """Client side first, from the first point the connection passed."""
    ok: bool
    last_seen: str | None
    """The farthest point (in travel direction) that saw the connection's first packet."""
    first_missing: str | None
    where: Where | None
    """Where it failed; None when it worked or when the evidence cannot tell."""
    how: str
    """One sentence: what the captures show."""
    evidence: tuple[FrameRef, ...]


Translations = dict[tuple[int, int], dict[str, str]]
"""(capture a, capture b) adjacent on the path -> {address at a: address at b}."""


def build_path(
    flows: dict[int, Flow],
    points: Sequence[Point],
    to_server: bool,
    translations: Translations,
) -> Path:
    """The hops of one connection seen in `flows` (capture index -> flow there)."""
    travel = list(points) if to_server else list(reversed(points))
    start = next((k for k, p in enumerate(travel) if p.index in flows), 0)
    hops: list[Hop] = []
    prev: Hop | None = None
    for p in travel[start:]:
        f = flows.get(p.index)
        if f is not None:
            first = f.first
            hop = Hop(
                point=p,
                orig=f.orig,
                resp=f.resp,
                seen=True,
                frame=first.frame if first is not None else None,
                ttl=first.ttl if first is not None else None,
                answered=f.synack is not None or any(not s.from_orig for s in f.segments),
                rst=f.rst is not None and not f.rst.from_orig,
                icmp=f.icmp is not None,
            )
        else:
            assert prev is not None
            tr = translations.get((prev.point.index, p.index), {})
            hop = Hop(
                point=p,
                orig=Endpoint(tr.get(prev.orig.ip, prev.orig.ip), prev.orig.port),
                resp=Endpoint(tr.get(prev.resp.ip, prev.resp.ip), prev.resp.port),
                seen=False,
                predicted=True,
            )
        hops.append(hop)
        prev = hop
    ok, where, how, evidence = _fate(hops, to_server, translations)
    seen = [h for h in hops if h.seen]
    after = hops.index(seen[-1]) + 1
    return Path(
        to_server=to_server,
        hops=tuple(hops if to_server else reversed(hops)),
        ok=ok,
        last_seen=seen[-1].point.name,
        first_missing=hops[after].point.name if after < len(hops) else None,
        where=where,
        how=how,
        evidence=evidence,
    )


def _fate(
    hops: list[Hop], to_server: bool, translations: Translations
) -> tuple[bool, Where | None, str, tuple[FrameRef, ...]]:
    """(worked, where it failed, what the captures show, evidence) in travel order."""
    seen = [k for k, h in enumerate(hops) if h.seen]
    k = seen[-1]
    missing = hops[k + 1] if k + 1 < len(hops) else None
    ev = [FrameRef(capture=h.point.path, frame=h.frame) for h in hops if h.seen and h.frame]
    evidence = (ev[0], ev[-1]) if len(ev) > 1 else tuple(ev)
    if hops[0].answered and not hops[0].rst:
        return True, None, f"seen at {_names(hops, seen)}", evidence
    back = [k for k, h in enumerate(hops) if h.rst or h.icmp]
    if back:
        r = max(back)
        what = "a reset" if hops[r].rst else "an ICMP error"
        nxt = hops[r + 1] if r + 1 < len(hops) else None
        where = box_between(hops, r, nxt, to_server, translations)
        how = f"{what} came back from beyond {hops[r].point.name}"
        if nxt is None:
            how += " (no capture beyond it)"
        elif not nxt.seen:
            how += f"; the connection never reached {nxt.point.name}"
        return False, where, how, evidence
    answered = [k for k, h in enumerate(hops) if h.answered]
    if answered:
        a = min(answered)
        rev = list(reversed(hops))
        ra = len(hops) - 1 - a
        nxt = rev[ra + 1] if ra + 1 < len(rev) else None
        where = box_between(rev, ra, nxt, not to_server, translations, ingress=False)
        how = (f"answered: the reply was seen at {hops[a].point.name} but not at "
               f"{nxt.point.name if nxt else 'the caller'}")
        return False, where, how, evidence
    where = box_between(hops, k, missing, to_server, translations)
    if missing is not None:
        how = f"seen at {_names(hops, seen)}, not at {missing.point.name}"
    else:
        how = f"seen at {_names(hops, seen)} (the last capture on its way), never answered"
    return False, where, how, evidence


def _names(hops: list[Hop], seen: list[int]) -> str:
    names = [hops[k].point.name for k in seen]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def box_between(
    hops: Sequence[Hop],
    k: int,
    nxt: Hop | None,
    to_server: bool,
    translations: Translations,
    *,
    ingress: bool = True,
) -> Where | None:
    """The box after hop `k` (seen) towards `nxt` (not seen; None: no capture beyond).

    None when the evidence cannot single one out (two captures with several boxes between,
    or unlabelled captures without a NAT between them).
    """
    a = hops[k]
    pa = a.point.position
    if pa is None or (nxt is not None and nxt.point.position is None):
        return _box_unlabelled(a, nxt, to_server, translations)
    end = 4.0 if to_server else 0.0
    pb = nxt.point.position if nxt is not None else end
    assert pb is not None
    step = 1.0 if to_server else -1.0
    between = [w for p, w in BOXES if (p - pa) * step > 0 and (pb - p) * step > 0]
    at_b = [w for p, w in BOXES if p == pb]
    if len(between) == 1:
        return between[0]
    if between:
        return None
    if at_b and pa != pb:
        router = ROUTER_OF.get(a.point.name)
        if ingress and router is not None and _not_forwarded_yet(hops, k):
            return router  # the router at `a` took the packet in and did not pass it on
        return at_b[0]
    return next((w for p, w in BOXES if p == pa), None)


def _not_forwarded_yet(hops: Sequence[Hop], k: int) -> bool:
    """A packet at a router's interface with the addresses and TTL it had one hop earlier."""
    if k == 0:
        return False
    before, here = hops[k - 1], hops[k]
    return (
        before.seen
        and before.orig == here.orig
        and before.resp == here.resp
        and before.ttl is not None
        and before.ttl == here.ttl
    )


def _box_unlabelled(
    a: Hop, nxt: Hop | None, to_server: bool, translations: Translations
) -> Where | None:
    """Without labels only a NAT between two captures names the box: whose address changed."""
    if nxt is None:
        return None
    tr = translations.get((a.point.index, nxt.point.index), {})
    client, server = (a.orig, a.resp) if to_server else (a.resp, a.orig)
    if client.ip in tr and server.ip not in tr:
        return Where.CLIENT_ROUTER
    if server.ip in tr and client.ip not in tr:
        return Where.SERVER_ROUTER
    return None
