"""The lab's world as data: hosts, links, addresses, routes (built by `lab.netns`).

The plan is the field guide's: an FTP server 192.168.1.2 behind a NAT router (LAN
192.168.1.1, WAN 198.51.100.2), a transit "internet" router that has no route to any private
range (so a SYN to a leaked private address earns ICMP net-unreachable, RFC 1812 §5.2.7.1,
as on the real internet), a client either on the internet (203.0.113.10) or behind its own
NAT router (10.0.0.2 behind 203.0.113.2), and a second client on the server's LAN
(192.168.1.3) for the guide's LAN and hairpin steps. Every link also carries IPv6 from the
documentation prefix 2001:db8::/32 (RFC 3849), routed without NAT.

Namespace names carry the per-run prefix (`ft1a2b-srv`), which is what keeps parallel labs
apart and what `lab down` uses to find leftovers of crashed runs.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

PREFIX_RE = re.compile(r"^ft[0-9a-f]{4}-$")
"""Every lab namespace starts with `ft` + 4 hex digits + `-`; `lab down` relies on it."""


class Host(StrEnum):
    """The lab's machines, by role; `lab exec HOST` takes these names."""

    CLIENT = "client"
    CLIENT_ROUTER = "client-router"
    INTERNET = "internet"
    SERVER_ROUTER = "server-router"
    SERVER = "server"
    LAN_CLIENT = "lan-client"


NS_SUFFIX = {
    Host.CLIENT: "cli",
    Host.CLIENT_ROUTER: "crt",
    Host.INTERNET: "inet",
    Host.SERVER_ROUTER: "srt",
    Host.SERVER: "srv",
    Host.LAN_CLIENT: "lan",
}


class ClientSite(StrEnum):
    """Where the scenario's FTP client sits."""

    INTERNET = "internet"
    """Directly on the internet, 203.0.113.10 (no NAT of its own)."""
    NAT = "nat"
    """Behind its own NAT router: 10.0.0.2, masqueraded to 203.0.113.2."""
    LAN = "lan"
    """On the server's LAN, 192.168.1.3 (the guide's step 3 and the hairpin test)."""
    SERVER = "server"
    """On the server itself, talking to 127.0.0.1 (the guide's step 2)."""


# The addresses of the plan. Routers get .1 on LANs; the server's global address is the
# server router's WAN address, which is what a user would give out.
SERVER_V4 = "192.168.1.2"
SERVER_V6 = "2001:db8:1::2"
SERVER_LAN_GW_V4 = "192.168.1.1"
SERVER_LAN_GW_V6 = "2001:db8:1::1"
LAN_CLIENT_V4 = "192.168.1.3"
LAN_CLIENT_V6 = "2001:db8:1::3"
SERVER_WAN_V4 = "198.51.100.2"
SERVER_WAN_V6 = "2001:db8:100::2"
INET_SRV_SIDE_V4 = "198.51.100.1"
INET_SRV_SIDE_V6 = "2001:db8:100::1"
INET_CLI_SIDE_V4 = "203.0.113.1"
INET_CLI_SIDE_V6 = "2001:db8:203::1"
CLIENT_DIRECT_V4 = "203.0.113.10"
CLIENT_DIRECT_V6 = "2001:db8:203::10"
CLIENT_WAN_V4 = "203.0.113.2"
CLIENT_WAN_V6 = "2001:db8:203::2"
CLIENT_NAT_V4 = "10.0.0.2"
CLIENT_NAT_V6 = "2001:db8:10::2"
CLIENT_LAN_GW_V4 = "10.0.0.1"
CLIENT_LAN_GW_V6 = "2001:db8:10::1"
SERVER_LAN_V4 = "192.168.1.0/24"
CLIENT_LAN_V4 = "10.0.0.0/24"


@dataclass(frozen=True, slots=True, kw_only=True)
class Iface:
    """One interface inside one lab host, with its addresses (prefix lengths included)."""

    host: Host
    name: str
    v4: str | None = None
    v6: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """A veth pair between two lab hosts; `bridge` puts the `b` end into that bridge."""

    a: Iface
    b: Iface
    bridge: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    host: Host
    dest: str
    via: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """Everything `ip` needs to build one lab: hosts, links, bridges, routes, routers."""

    client_site: ClientSite
    hosts: tuple[Host, ...]
    links: tuple[Link, ...]
    bridges: tuple[Iface, ...]
    routes: tuple[Route, ...]
    routers: tuple[Host, ...]

    def addresses(self) -> dict[Host, list[str]]:
        """Each host's addresses, for `lab status`."""
        out: dict[Host, list[str]] = {h: [] for h in self.hosts}
        for iface in self._ifaces():
            for addr in (iface.v4, iface.v6):
                if addr is not None:
                    out[iface.host].append(f"{iface.name} {addr}")
        return out

    def _ifaces(self) -> list[Iface]:
        ifaces = [i for link in self.links for i in (link.a, link.b) if link.bridge is None]
        ifaces += [link.a for link in self.links if link.bridge is not None]
        return [*ifaces, *self.bridges]


def plan(client_site: ClientSite) -> Plan:
    """The guide's topology, with the client placed where the scenario wants it."""
    links = [
        Link(
            a=Iface(host=Host.SERVER, name="eth0", v4=f"{SERVER_V4}/24", v6=f"{SERVER_V6}/64"),
            b=Iface(host=Host.SERVER_ROUTER, name="lan-srv"),
            bridge="br0",
        ),
        Link(
            a=Iface(
                host=Host.LAN_CLIENT,
                name="eth0",
                v4=f"{LAN_CLIENT_V4}/24",
                v6=f"{LAN_CLIENT_V6}/64",
            ),
            b=Iface(host=Host.SERVER_ROUTER, name="lan-cl"),
            bridge="br0",
        ),
        Link(
            a=Iface(
                host=Host.SERVER_ROUTER,
                name="wan",
                v4=f"{SERVER_WAN_V4}/24",
                v6=f"{SERVER_WAN_V6}/64",
            ),
            b=Iface(
                host=Host.INTERNET,
                name="to-srt",
                v4=f"{INET_SRV_SIDE_V4}/24",
                v6=f"{INET_SRV_SIDE_V6}/64",
            ),
        ),
    ]
    routes = [
        Route(host=Host.SERVER, dest="default", via=SERVER_LAN_GW_V4),
        Route(host=Host.SERVER, dest="default", via=SERVER_LAN_GW_V6),
        Route(host=Host.LAN_CLIENT, dest="default", via=SERVER_LAN_GW_V4),
        Route(host=Host.LAN_CLIENT, dest="default", via=SERVER_LAN_GW_V6),
        Route(host=Host.SERVER_ROUTER, dest="default", via=INET_SRV_SIDE_V4),
        Route(host=Host.SERVER_ROUTER, dest="default", via=INET_SRV_SIDE_V6),
        # The internet knows only public space: no v4 route to 192.168/16 or 10/8 at all.
        Route(host=Host.INTERNET, dest="2001:db8:1::/64", via=SERVER_WAN_V6),
    ]
    hosts = [Host.SERVER, Host.LAN_CLIENT, Host.SERVER_ROUTER, Host.INTERNET, Host.CLIENT]
    routers = [Host.SERVER_ROUTER, Host.INTERNET]
    if client_site is ClientSite.NAT:
        hosts.insert(4, Host.CLIENT_ROUTER)
        routers.append(Host.CLIENT_ROUTER)
        links += [
            Link(
                a=Iface(
                    host=Host.CLIENT_ROUTER,
                    name="wan",
                    v4=f"{CLIENT_WAN_V4}/24",
                    v6=f"{CLIENT_WAN_V6}/64",
                ),
                b=Iface(
                    host=Host.INTERNET,
                    name="to-cli",
                    v4=f"{INET_CLI_SIDE_V4}/24",
                    v6=f"{INET_CLI_SIDE_V6}/64",
                ),
            ),
            Link(
                a=Iface(
                    host=Host.CLIENT,
                    name="eth0",
                    v4=f"{CLIENT_NAT_V4}/24",
                    v6=f"{CLIENT_NAT_V6}/64",
                ),
                b=Iface(
                    host=Host.CLIENT_ROUTER,
                    name="lan",
                    v4=f"{CLIENT_LAN_GW_V4}/24",
                    v6=f"{CLIENT_LAN_GW_V6}/64",
                ),
            ),
        ]
        routes += [
            Route(host=Host.CLIENT_ROUTER, dest="default", via=INET_CLI_SIDE_V4),
            Route(host=Host.CLIENT_ROUTER, dest="default", via=INET_CLI_SIDE_V6),
            Route(host=Host.CLIENT, dest="default", via=CLIENT_LAN_GW_V4),
            Route(host=Host.CLIENT, dest="default", via=CLIENT_LAN_GW_V6),
            Route(host=Host.INTERNET, dest="2001:db8:10::/64", via=CLIENT_WAN_V6),
        ]
    else:
        links.append(
            Link(
                a=Iface(
                    host=Host.CLIENT,
                    name="eth0",
                    v4=f"{CLIENT_DIRECT_V4}/24",
                    v6=f"{CLIENT_DIRECT_V6}/64",
                ),
                b=Iface(
                    host=Host.INTERNET,
                    name="to-cli",
                    v4=f"{INET_CLI_SIDE_V4}/24",
                    v6=f"{INET_CLI_SIDE_V6}/64",
                ),
            )
        )
        routes += [
            Route(host=Host.CLIENT, dest="default", via=INET_CLI_SIDE_V4),
            Route(host=Host.CLIENT, dest="default", via=INET_CLI_SIDE_V6),
        ]
    bridges = (
        Iface(
            host=Host.SERVER_ROUTER,
            name="br0",
            v4=f"{SERVER_LAN_GW_V4}/24",
            v6=f"{SERVER_LAN_GW_V6}/64",
        ),
    )
    return Plan(
        client_site=client_site,
        hosts=tuple(hosts),
        links=tuple(links),
        bridges=bridges,
        routes=tuple(routes),
        routers=tuple(routers),
    )


def new_prefix() -> str:
    """A fresh per-run prefix such as `ft3fa9-` (collisions are checked at build time)."""
    return f"ft{secrets.token_hex(2)}-"


def netns_name(prefix: str, host: Host) -> str:
    return f"{prefix}{NS_SUFFIX[host]}"
