"""Live use of the trace builder (`ftptrace watch`): report what is certain, then forget it.

Why apart from the builder: a replay only needs `TraceBuilder.finish()` at the end of the
capture; a live watcher must decide, while packets still arrive, when a channel's fate can
no longer change, and must forget what it reported so memory stays bounded on a busy link.
Those decisions (RFC 959 §4.2 final replies, timeouts) are what this module holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ftptrace.model import Connection, DataChannel, Session
from ftptrace.session_draft import EXPECT_SECONDS, IDLE_SECONDS, DraftChannel

if TYPE_CHECKING:
    from ftptrace.trace import TraceBuilder


@dataclass(frozen=True, slots=True)
class Resolved:
    """What `TraceBuilder.drain_resolved` found certain since its last call."""

    channels: list[tuple[Session, DataChannel]]
    """Each data channel once, with its session (commands left out: see `sessions`)."""
    sessions: list[Session]
    """Sessions whose control connection ended; the builder has forgotten them."""
    attempts: list[Connection]
    """Control connections refused, unreachable or unanswered for `wait` seconds."""


def drain_resolved(b: TraceBuilder, now: float, wait: float, linger: float) -> Resolved:
    """Resolve what is certain, then forget it (bounded memory).

    A data channel is resolved when its connection was refused or unreachable, when it was
    established and the transfer command got its final reply (RFC 959 §4.2) or the
    connection closed or idled `wait` seconds, when SYNs stayed unanswered `wait` seconds,
    when the server answered the transfer command without any connection, or when its
    session ended. A session ends `linger` seconds after its control connection closed.
    """
    b.advance_clock(now)
    out = Resolved([], [], [])
    for d in b.drafts():
        st = d.conn
        unanswered = st.synack_frame is None and not st.saw_payload
        ended = (st.closed and now - st.last_ts >= linger) or now - st.last_ts >= IDLE_SECONDS
        if unanswered and (st.rst is not None or st.icmp is not None or now - st.first_ts >= wait):
            ended = True
        server_ttl = st.ttl_resp if d.server_is_resp else st.ttl_orig
        client_ttl = st.ttl_orig if d.server_is_resp else st.ttl_resp
        for ch in d.channels:
            if ch.reported or not (ended or _settled(ch, now, wait)):
                continue
            ch.reported = True
            frozen = d.finish_channel(ch, server_ttl, client_ttl)
            snap = Session(
                capture=b.capture.path,
                client=d.client,
                server=d.server,
                control=b.connection(st, None),
                user=d.ftp.user,
                tls=d.tls,
                banner=None,
                login_ok=d.ftp.login_ok,
                commands=(),
                data_channels=(frozen,),
                server_ttl=server_ttl,
                client_ttl=client_ttl,
            )
            out.channels.append((snap, frozen))
            b.forget(ch)
            if ch.conn is not None:  # reported: later packets of it change nothing shown
                b.drop_connection(ch.conn)
        if len(d.channels) > 64:
            d.channels = [c for c in d.channels if not c.reported]
        if ended:
            b.end_session(d)
    sessions, attempts = b.take_finished()
    out.sessions.extend(sessions)
    # A connection first seen without its SYN is the tail of one already forgotten.
    out.attempts.extend(a for a in attempts if a.syn_count)
    return out


def _settled(ch: DraftChannel, now: float, wait: float) -> bool:
    """Nothing later can change what is known of this channel (see `drain_resolved`)."""
    if ch.rejected:
        return True
    final = ch.command is not None and any(r.code >= 200 for r in ch.command.replies)
    st = ch.conn
    if st is None:
        return final or now - ch.ts >= EXPECT_SECONDS
    if st.rst is not None or st.icmp is not None:
        return True
    if st.established or st.saw_payload:
        return final or st.closed or now - st.last_ts >= wait
    return final or now - st.first_ts >= wait
