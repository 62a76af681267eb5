"""Address classification for the rules (RFC 1918, RFC 6598, RFC 3927, RFC 4193, RFC 5737)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

_CGNAT = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 shared address space
_DOC_V4 = (
    ipaddress.ip_network("192.0.2.0/24"),
    ipaddress.ip_network("198.51.100.0/24"),
    ipaddress.ip_network("203.0.113.0/24"),
)  # RFC 5737: documentation ranges, used as "public" in labs and examples
_DOC_V6 = ipaddress.ip_network("2001:db8::/32")  # RFC 3849


@lru_cache(maxsize=4096)
def kind(ip: str) -> str:
    """'unspecified' | 'loopback' | 'link-local' | 'cgnat' | 'private' | 'public' | 'invalid'.

    Documentation prefixes count as public on purpose: they play the internet in every
    lab and example, as in the field guide.
    """
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "invalid"
    if addr.is_unspecified:
        return "unspecified"
    if addr.is_loopback:
        return "loopback"
    if addr.is_link_local:
        return "link-local"
    if isinstance(addr, ipaddress.IPv4Address):
        if addr in _CGNAT:
            return "cgnat"
        if any(addr in n for n in _DOC_V4):
            return "public"
    elif addr in _DOC_V6:
        return "public"
    if addr.is_private:
        return "private"
    return "public"


def is_internal(ip: str) -> bool:
    """True for addresses that cannot be reached from the internet."""
    return kind(ip) in {"unspecified", "loopback", "link-local", "cgnat", "private", "invalid"}
