"""FTP helpers (ALGs) seen at work, or failing to work, between two captures.

A NAT router's FTP helper (Linux nf_nat_ftp, a home router's "FTP ALG") reads PORT/EPRT
commands and 227 replies on the control connection and rewrites the address in them to the
one the other side can reach (RFC 959 §4.1.2 gives the h1,h2,h3,h4,p1,p2 form; RFC 2428
§2 EPRT). A rewritten line usually changes length, so the helper also shifts every later
TCP sequence number in that direction (and the acknowledgement numbers coming back): both
captures show the same control connection with different bytes and different numbers.

A helper misses when it cannot see the line: the control channel is TLS (RFC 4217), the
line is split over two TCP segments (nf_conntrack_ftp parses one segment at a time), the
control port is not the one the helper watches, or there is simply no helper.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftptrace.correlate.prints import Flow, Sample
from ftptrace.diagnose.findings import Where
from ftptrace.model import DataChannel, FrameRef, Session
from ftptrace.net.reassembly import seq_diff


@dataclass(frozen=True, slots=True, kw_only=True)
class Side:
    """One copy of a data channel's announcement: which capture, which session copy."""

    name: str
    session: Session
    channel: DataChannel
    flow: Flow | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rewrite:
    where: Where | None
    before: Side
    after: Side
    before_text: str
    after_text: str
    before_ref: FrameRef
    after_ref: FrameRef
    shift: int | None
    shift_basis: str
    to_server: bool
    """Direction of the rewritten line: PORT/EPRT client->server, 227 server->client."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Missed:
    where: Where | None
    near: Side
    """The copy on the announcing side of the NAT (what the helper should have rewritten)."""
    far: Side
    text: str
    ref: FrameRef
    inside: str
    outside: str
    cause: str


def announcement(s: Session, ch: DataChannel) -> tuple[str, FrameRef]:
    """The line that carried the address: the PORT/EPRT command or the 227/229 reply."""
    if ch.passive:
        r = ch.announce_reply
        if r is not None:
            first = r.text.splitlines()[0] if r.text else ""
            return f"{r.code} {first}".rstrip(), r.ref
        return ch.via, ch.announced_ref
    for c in s.commands:
        if c.ref == ch.announced_ref:
            return c.text, c.ref
    return ch.via, ch.announced_ref


def compare(a: Side, b: Side, where: Where | None) -> Rewrite | Missed | None:
    """Copies `a` (client side) and `b` (server side) of one announcement, a box between."""
    ca, cb = a.channel, b.channel
    if (ca.announced_ip, ca.announced_port) != (cb.announced_ip, cb.announced_port):
        return _rewrite(a, b, where)
    if ca.announced_ip is None:
        return None  # EPSV / port-only EPRT: nothing for a helper to rewrite
    if ca.passive:
        inside, outside = b.session.server.ip, a.session.server.ip
        sender = b
    else:
        inside, outside = a.session.client.ip, b.session.client.ip
        sender = a
    if inside == outside or ca.announced_ip != inside:
        return None  # no NAT of that address here, or the line names another host
    text, ref = announcement(sender.session, sender.channel)
    return Missed(
        where=where,
        near=sender,
        far=b if sender is a else a,
        text=text,
        ref=ref,
        inside=inside,
        outside=outside,
        cause=_cause(sender, text, ref),
    )


def _rewrite(a: Side, b: Side, where: Where | None) -> Rewrite:
    to_server = not a.channel.passive
    src, dst = (a, b) if to_server else (b, a)
    src_text, src_ref = announcement(src.session, src.channel)
    dst_text, dst_ref = announcement(dst.session, dst.channel)
    shift, basis = _shift(src, dst, src_ref.frame, to_server, src_text, dst_text)
    return Rewrite(
        where=where,
        before=src,
        after=dst,
        before_text=src_text,
        after_text=dst_text,
        before_ref=src_ref,
        after_ref=dst_ref,
        shift=shift,
        shift_basis=basis,
        to_server=to_server,
    )


def _base(f: Flow, from_orig: bool) -> int | None:
    """Sequence number the direction started from (ISN), else its first segment's."""
    if from_orig and f.syns:
        return f.syns[0].seq
    if not from_orig and f.synack is not None:
        return f.synack.seq
    first = next((s for s in f.segments if s.from_orig == from_orig), None)
    return first.seq if first is not None else None


def _shift(
    src: Side, dst: Side, frame: int, from_orig: bool, before: str, after: str
) -> tuple[int | None, str]:
    """How far the helper moved later sequence numbers in the rewritten direction."""
    by_length = len(after) - len(before)
    fa, fb = src.flow, dst.flow
    if fa is None or fb is None:
        return by_length, "from the line lengths"
    seg_a = [s for s in fa.segments if s.from_orig == from_orig]
    pos = next((k for k, s in enumerate(seg_a) if s.frame == frame), None)
    base_a, base_b = _base(fa, from_orig), _base(fb, from_orig)
    if pos is None or pos + 1 >= len(seg_a) or base_a is None or base_b is None:
        return by_length, "from the line lengths"
    nxt = seg_a[pos + 1]
    other = _same_segment(nxt, [s for s in fb.segments if s.from_orig == from_orig])
    if other is None:
        return by_length, "from the line lengths"
    shift = seq_diff(other.seq - base_b, nxt.seq - base_a)
    return shift, "measured on the next segment's sequence number"


def _same_segment(s: Sample, candidates: list[Sample]) -> Sample | None:
    for o in candidates:
        if s.ip_id and o.ip_id == s.ip_id and o.payload == s.payload:
            return o
    for o in candidates:
        if o.payload == s.payload and o.payload:
            return o
    return None


def _cause(sender: Side, text: str, ref: FrameRef) -> str:
    """Why no helper rewrote the line, as far as the packets tell."""
    if sender.session.tls:
        return "the control channel is encrypted (AUTH TLS): no helper can read it"
    f = sender.flow
    if f is not None:
        line = text.encode("latin-1", "replace")
        seg = next((s for s in f.segments if s.frame == ref.frame), None)
        if seg is not None and line[:40] not in seg.payload:
            return (
                "the line was split over several TCP segments; the kernel's FTP helper "
                "only parses a line that arrives whole in one segment"
            )
    if sender.session.server.port != 21:
        return (
            f"the control connection uses port {sender.session.server.port}; helpers watch "
            "port 21 unless told otherwise"
        )
    return "no FTP helper (ALG) on that router, or none attached to this connection"
