"""What correlation found, as values: capture order, clocks, NAT mappings, paths, helpers."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from ftptrace.correlate.alg import Missed, Rewrite
from ftptrace.correlate.match import Identity
from ftptrace.correlate.path import BOXES, Path, Point
from ftptrace.diagnose.findings import Where
from ftptrace.net.model import Endpoint


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockReport:
    name: str
    offset: float
    """Seconds this capture's clock runs ahead of the first capture's."""
    samples: int


@dataclass(frozen=True, slots=True, kw_only=True)
class NatMapping:
    router: Where | None
    between: tuple[str, str]
    kind: str
    """'snat' (the connection's source was translated) or 'dnat' (its destination)."""
    role: str
    """Whose address: 'client' or 'server' (the FTP roles)."""
    inside: Endpoint
    """As seen on the LAN side of that router."""
    outside: Endpoint
    connection: str
    """'control' or 'data'."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionReport:
    kind: str
    """'control', 'data' or 'attempt' (a control connection that never became a session)."""
    session: int | None
    channel: int | None
    attempt: int | None
    label: str
    path: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class Correlation:
    points: tuple[Point, ...]
    """The captures in path order, client side first."""
    order_inferred: bool
    order_basis: str
    clocks: tuple[ClockReport, ...]
    nat_mappings: tuple[NatMapping, ...]
    rewrites: tuple[Rewrite, ...]
    missed: tuple[Missed, ...]
    connections: tuple[ConnectionReport, ...]
    seen_at: tuple[tuple[str, ...], ...]
    """Per session of the merged trace: the captures that saw its control connection."""
    notes: tuple[str, ...] = ()
    _index: dict[tuple[str, int], object] = field(default_factory=dict, repr=False,
                                                  compare=False)

    def __post_init__(self) -> None:
        for c in self.connections:
            if c.attempt is not None:
                self._index[("attempt", c.attempt)] = c.path
            elif c.session is not None:
                paths = self._index.setdefault(("session", c.session), (None, {}))
                assert isinstance(paths, tuple)
                if c.kind == "control":
                    self._index[("session", c.session)] = (c.path, paths[1])
                elif c.channel is not None:
                    paths[1][c.channel] = c.path

    def session_paths(self, session: int) -> tuple[Path | None, dict[int, Path]]:
        """The control connection's path and each data channel's, by channel index."""
        got = self._index.get(("session", session))
        return got if isinstance(got, tuple) else (None, {})

    def attempt_path(self, attempt: int) -> Path | None:
        got = self._index.get(("attempt", attempt))
        return got if isinstance(got, Path) else None


def box_between_points(a: Point, b: Point, prefer: Where) -> Where | None:
    """The box between two points; with several, `prefer` if it is one of them."""
    if a.position is None or b.position is None:
        return prefer
    lo, hi = sorted((a.position, b.position))
    boxes = [w for p, w in BOXES if lo < p < hi]
    if len(boxes) == 1:
        return boxes[0]
    return prefer if prefer in boxes else None


def nat_mappings(
    connections: list[tuple[Identity, bool, str]], points: tuple[Point, ...]
) -> tuple[NatMapping, ...]:
    """Every address translation seen between two captures that both saw a connection.

    `connections`: (identity, travels client->server?, 'control'|'data').
    """
    rank = {p.index: k for k, p in enumerate(points)}
    out: dict[tuple[object, ...], NatMapping] = {}
    for ident, to_server, kind in connections:
        seen = sorted((i for i in ident.flows if i in rank), key=rank.__getitem__)
        for i, j in itertools.pairwise(seen):
            fa, fb = ident.flows[i], ident.flows[j]
            pa, pb = points[rank[i]], points[rank[j]]
            for is_orig, ea, eb in ((True, fa.orig, fb.orig), (False, fa.resp, fb.resp)):
                if ea == eb:
                    continue
                role = "client" if is_orig == to_server else "server"
                prefer = Where.CLIENT_ROUTER if role == "client" else Where.SERVER_ROUTER
                router = box_between_points(pa, pb, prefer)
                client_side = router in (Where.CLIENT_ROUTER, Where.CLIENT_HOST) or (
                    router is None and role == "client")
                inside, outside = (ea, eb) if client_side else (eb, ea)
                m = NatMapping(
                    router=router,
                    between=(pa.name, pb.name),
                    kind="snat" if is_orig else "dnat",
                    role=role,
                    inside=inside,
                    outside=outside,
                    connection=kind,
                )
                out.setdefault((router, inside, outside, m.kind), m)
    return tuple(out.values())
