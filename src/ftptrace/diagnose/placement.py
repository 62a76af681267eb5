"""Where a failure sits along the path (`Where`), from the evidence a capture carries.

TTL hop distances tell the end host's packets from a router's, and a capture whose control
packets arrive with zero hops travelled was taken on that host itself. Announced addresses
tell whether a NAT sits in front of the client.
"""

from __future__ import annotations

from ftptrace.diagnose.addresses import is_internal
from ftptrace.diagnose.findings import Where
from ftptrace.model import Connection, DataChannel, Outcome, Session
from ftptrace.trace import hop_distance


def on_host(ttl: int | None) -> bool:
    """Packets that travelled zero hops: the capture was taken on their sender."""
    return ttl is not None and hop_distance(ttl) == 0


def never_arrived(s: Session, ch: DataChannel) -> bool:
    """Captured on the server itself: a passive port was announced and no connection to it
    ever showed up here (under TLS the channels cannot be told apart, so never)."""
    return (
        ch.passive
        and ch.outcome is Outcome.UNKNOWN
        and ch.connection is None
        and on_host(s.server_ttl)
        and not s.tls
    )


def where_data_died(s: Session, ch: DataChannel, conn: Connection | None) -> Where:
    """Where a data connection that did not establish most likely died."""
    if ch.passive:
        if on_host(s.server_ttl) and conn is not None and conn.syn_count:
            return Where.SERVER_HOST  # the SYN reached the server and it stayed silent
        if conn is not None and conn.rst is not None and conn.rst.from_peer is False:
            return _router_or_internet(conn.rst.ttl, s.server_ttl, Where.SERVER_ROUTER)
        if conn is not None and conn.rst is not None and conn.rst.from_peer:
            return Where.SERVER_HOST
        return Where.SERVER_ROUTER
    if on_host(s.client_ttl) and conn is not None and conn.syn_count:
        return Where.CLIENT_HOST  # the server's SYN reached us; our host dropped it
    if conn is not None and conn.rst is None and on_host(s.server_ttl):
        # Seen leaving the server, never answered: the server's router (egress filter) and
        # the client's firewall look identical from here. Say so rather than guess.
        return Where.UNKNOWN
    if conn is not None and conn.rst is None and client_reachable_directly(s, ch):
        return Where.CLIENT_HOST  # no NAT in front of the client: its own firewall
    if conn is not None and conn.rst is not None and conn.rst.from_peer is False:
        return _router_or_internet(conn.rst.ttl, s.client_ttl, Where.CLIENT_ROUTER)
    if conn is not None and conn.rst is not None and conn.rst.from_peer:
        return Where.CLIENT_HOST
    return Where.CLIENT_ROUTER


def behind_nat(s: Session, ch: DataChannel) -> bool:
    """Active mode: the client announces an internal address its control packets do not
    come from — something between the client and here translated them."""
    ann = ch.announced_ip
    return ann is not None and is_internal(ann) and ann != s.client.ip


def client_reachable_directly(s: Session, ch: DataChannel) -> bool:
    """Active mode: the announced address is the public address the control connection
    comes from, so no NAT sits in front of the client; a drop there is its own host."""
    return ch.announced_ip == s.client.ip and not is_internal(s.client.ip)


def where_active_failed(s: Session, ch: DataChannel) -> Where:
    """PORT accepted, then 425, and no packet of the attempt here."""
    if behind_nat(s, ch) or is_internal(ch.expected.resp_ip):
        return Where.CLIENT_ROUTER
    if on_host(s.client_ttl) and client_reachable_directly(s, ch):
        # Captured on the client, which has no NAT in front of it, and the server's SYN
        # never showed up here (AF_PACKET sees it before any local firewall): upstream.
        return Where.SERVER_ROUTER
    return Where.UNKNOWN


def _router_or_internet(ttl: int, peer_ttl: int | None, router: Where) -> Where:
    """An RST not from the peer: the router one hop before it, or something further out."""
    if peer_ttl is None:
        return router
    return router if hop_distance(ttl) == hop_distance(peer_ttl) - 1 else Where.INTERNET
