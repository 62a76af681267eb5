"""Correlation as additive keys of the `ftptrace/1` document.

Per data channel (and per session's control connection and per control attempt): `path`,
the hops client side first, each `{"vantage", "orig", "resp", "seen"}` with the addresses
as seen at that point (`"predicted": true` where the connection was not seen and the
addresses are what the NAT mappings learned elsewhere make of it), and `last_seen`.
Top level: `correlation` with the capture order, clock offsets, NAT mappings, helper
rewrites, and one line per connection saying where it went and where it stopped.
"""

from __future__ import annotations

from typing import Any

from ftptrace.correlate.path import Hop, Path
from ftptrace.correlate.report import Correlation
from ftptrace.net.model import Endpoint


def _ep(e: Endpoint) -> dict[str, Any]:
    return {"ip": e.ip, "port": e.port}


def hop_dict(h: Hop) -> dict[str, Any]:
    d: dict[str, Any] = {
        "vantage": h.point.name,
        "orig": _ep(h.orig),
        "resp": _ep(h.resp),
        "seen": h.seen,
    }
    if h.seen:
        d["frame"] = h.frame
        d["answered"] = h.answered
        if h.rst:
            d["rst"] = True
        if h.icmp:
            d["icmp"] = True
    else:
        d["predicted"] = h.predicted
    return d


def path_keys(p: Path) -> dict[str, Any]:
    return {
        "path": [hop_dict(h) for h in p.hops],
        "last_seen": p.last_seen,
    }


def annotate(doc: dict[str, Any], corr: Correlation) -> dict[str, Any]:
    """Add correlation keys to a document built from the correlated analysis (in place)."""
    for si, s in enumerate(doc.get("sessions") or ()):
        control, data = corr.session_paths(si)
        if control is not None:
            s["control"].update(path_keys(control))
        for k, ch in enumerate(s.get("data_channels") or ()):
            if k in data:
                ch.update(path_keys(data[k]))
    for ai, a in enumerate(doc.get("control_attempts") or ()):
        p = corr.attempt_path(ai)
        if p is not None and a is not None:
            a.update(path_keys(p))
    doc["correlation"] = correlation_dict(corr)
    return doc


def correlation_dict(corr: Correlation) -> dict[str, Any]:
    return {
        "order": [p.name for p in corr.points],
        "order_inferred": corr.order_inferred,
        "order_basis": corr.order_basis,
        "clocks": [
            {"vantage": c.name, "offset": c.offset, "samples": c.samples} for c in corr.clocks
        ],
        "nat_mappings": [
            {
                "router": m.router.value if m.router is not None else None,
                "between": list(m.between),
                "kind": m.kind,
                "role": m.role,
                "inside": _ep(m.inside),
                "outside": _ep(m.outside),
                "connection": m.connection,
            }
            for m in corr.nat_mappings
        ],
        "rewrites": [
            {
                "router": r.where.value if r.where is not None else None,
                "before": {"vantage": r.before.name, "text": r.before_text,
                           "frame": r.before_ref.frame},
                "after": {"vantage": r.after.name, "text": r.after_text,
                          "frame": r.after_ref.frame},
                "seq_shift": r.shift,
                "seq_shift_basis": r.shift_basis,
                "direction": "to_server" if r.to_server else "to_client",
            }
            for r in corr.rewrites
        ],
        "missed_rewrites": [
            {
                "router": x.where.value if x.where is not None else None,
                "vantage": x.near.name,
                "text": x.text,
                "frame": x.ref.frame,
                "inside": x.inside,
                "outside": x.outside,
                "cause": x.cause,
            }
            for x in corr.missed
        ],
        "connections": [
            {
                "kind": c.kind,
                "session": c.session,
                "channel": c.channel,
                "attempt": c.attempt,
                "label": c.label,
                "ok": c.path.ok,
                "last_seen": c.path.last_seen,
                "first_missing": c.path.first_missing,
                "where": c.path.where.value if c.path.where is not None else None,
                "how": c.path.how,
            }
            for c in corr.connections
        ],
        "sessions_seen_at": [list(names) for names in corr.seen_at],
        "notes": list(corr.notes),
    }
