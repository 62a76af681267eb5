"""Every failure mode the lab can make happen, as data.

A scenario says what is wrong (one line), what a user would see, how to build it (where the
client sits, the FTP server's settings, the routers' and hosts' rules, the default client and
mode) and what must happen: whether the real client succeeds, the outcome of the data channel
(or of the control connection when that fails first), the finding codes a replay of the
captures must produce, and where on the path the fault sits. Tests assert all of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ftptrace.diagnose.findings import Code, Where
from ftptrace.errors import UsageError
from ftptrace.lab import topology as t
from ftptrace.lab.clients import ClientKind, Mode
from ftptrace.lab.netfilter import Block, ClientRouterRules, HostFirewall, ServerRouterRules
from ftptrace.lab.servers import ServerConfig
from ftptrace.lab.topology import ClientSite
from ftptrace.model import Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class Expectation:
    client_succeeds: bool
    data: Outcome
    """The (first failing, else the only) data channel; NOT_ATTEMPTED when none was opened."""
    control: Outcome = Outcome.ESTABLISHED
    codes: tuple[Code, ...] = ()
    """Finding codes a replay of the captures must include (others may appear too)."""
    where: Where | None = None
    """Where the fault sits; None for a scenario that works."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str
    wrong: str
    """One line: what is wrong."""
    symptom: str
    """What a user would see."""
    expect: Expectation
    site: ClientSite = ClientSite.INTERNET
    server: ServerConfig = field(default_factory=ServerConfig)
    server_router: ServerRouterRules = field(default_factory=ServerRouterRules)
    client_router: ClientRouterRules = field(default_factory=ClientRouterRules)
    client_firewall: HostFirewall | None = None
    server_firewall: HostFirewall | None = None
    client: ClientKind = ClientKind.CURL
    mode: Mode = Mode.PASV
    ipv6: bool = False
    target: str | None = None
    """What the client dials; None = the natural address for the client's site."""
    trust_pasv: bool = False
    """The client connects to the address in a 227 reply (classic clients do)."""
    transfers: int = 1
    file: str = "test.jpg"
    guide: str = "step 6"
    """The field guide's step this scenario belongs to."""

    @property
    def dial(self) -> str:
        if self.target is not None:
            return self.target
        if self.site is ClientSite.SERVER:
            return "::1" if self.ipv6 else "127.0.0.1"
        if self.site is ClientSite.LAN:
            return t.SERVER_V6 if self.ipv6 else t.SERVER_V4
        return t.SERVER_V6 if self.ipv6 else t.SERVER_WAN_V4

    @property
    def tls(self) -> bool:
        return self.server.tls


E = Expectation
OK = Outcome.ESTABLISHED
_LAN_SERVER = ServerConfig(pasv_address=None)
_PROMISCUOUS = ServerConfig(port_promiscuous=True, connect_from_port_20=False)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="pasv-ok",
        site=ClientSite.NAT,
        wrong="nothing: 21 and the passive range forwarded, 227 carries the global address",
        symptom="the download works",
        expect=E(client_succeeds=True, data=OK),
    ),
    Scenario(
        name="pasv-private-address",
        site=ClientSite.NAT,
        trust_pasv=True,
        server=_LAN_SERVER,
        wrong="the server announces its private LAN address 192.168.1.2 in the 227 reply",
        symptom="login works, then the download fails at once ('Network is unreachable')",
        expect=E(
            client_succeeds=False,
            data=Outcome.UNREACHABLE,
            codes=(Code.PASV_PRIVATE_ADDRESS,),
            where=Where.SERVER_HOST,
        ),
    ),
    Scenario(
        name="pasv-private-address-ignored",
        site=ClientSite.NAT,
        server=_LAN_SERVER,
        wrong="227 carries the private 192.168.1.2, but the client ignores it (curl's default)",
        symptom="works with curl/ftplib/lftp; fails with clients that trust the 227 address",
        expect=E(
            client_succeeds=True,
            data=OK,
            codes=(Code.PASV_PRIVATE_ADDRESS,),
            where=Where.SERVER_HOST,
        ),
    ),
    Scenario(
        name="pasv-range-not-forwarded-reject",
        site=ClientSite.NAT,
        server_router=ServerRouterRules(forward_passive=None, unforwarded=Block.REJECT),
        wrong="only port 21 is forwarded; the router answers the data SYN with a reset",
        symptom="login works, the listing/download fails at once: 'Connection refused'",
        expect=E(
            client_succeeds=False,
            data=Outcome.REFUSED,
            codes=(Code.DATA_REFUSED,),
            where=Where.SERVER_ROUTER,
        ),
    ),
    Scenario(
        name="pasv-range-not-forwarded-drop",
        site=ClientSite.NAT,
        server_router=ServerRouterRules(forward_passive=None, unforwarded=Block.DROP),
        wrong="only port 21 is forwarded; the router silently drops the data SYN",
        symptom="login works, the listing/download hangs, then times out",
        expect=E(
            client_succeeds=False,
            data=Outcome.UNANSWERED,
            codes=(Code.DATA_SYN_UNANSWERED,),
            where=Where.SERVER_ROUTER,
        ),
    ),
    Scenario(
        name="pasv-range-partly-forwarded",
        site=ClientSite.NAT,
        client=ClientKind.FTPLIB,
        transfers=16,
        file="test.txt",
        server_router=ServerRouterRules(forward_passive=(50000, 50004)),
        wrong="the server uses 50000-50009 but the router forwards only 50000-50004",
        symptom="some transfers work and others fail, seemingly at random",
        expect=E(
            client_succeeds=False,
            data=Outcome.REFUSED,
            codes=(Code.PASSIVE_RANGE_PARTIALLY_FORWARDED,),
            where=Where.SERVER_ROUTER,
        ),
    ),
    Scenario(
        name="port-ok",
        mode=Mode.PORT,
        wrong="nothing: the client is on the internet and accepts the server's data connection",
        symptom="the download works",
        expect=E(client_succeeds=True, data=OK),
    ),
    Scenario(
        name="port-client-behind-nat-illegal-port",
        site=ClientSite.NAT,
        mode=Mode.PORT,
        wrong="the client's router has no FTP helper: PORT carries the private 10.0.0.2",
        symptom="'500 Illegal PORT command.' (vsftpd refuses a foreign PORT address)",
        expect=E(
            client_succeeds=False,
            data=Outcome.NOT_ATTEMPTED,
            codes=(Code.PORT_PRIVATE_ADDRESS, Code.PORT_REJECTED),
            where=Where.CLIENT_ROUTER,
        ),
    ),
    Scenario(
        name="port-client-behind-nat",
        site=ClientSite.NAT,
        mode=Mode.PORT,
        server=_PROMISCUOUS,
        wrong="PORT carries the private 10.0.0.2 and a permissive server tries to connect to it",
        symptom="'425 Failed to establish connection.' after the server's attempt fails",
        expect=E(
            client_succeeds=False,
            data=Outcome.UNREACHABLE,
            codes=(Code.PORT_PRIVATE_ADDRESS,),
            where=Where.CLIENT_ROUTER,
        ),
    ),
    Scenario(
        name="port-vsftpd-bind-oops",
        mode=Mode.PORT,
        server=ServerConfig(port_promiscuous=True, connect_from_port_20=True),
        wrong="vsftpd 3.0.3 quirk: port_promiscuous=YES with connect_from_port_20=YES",
        symptom="'500 OOPS: vsf_sysutil_bind' after RETR, even for a client on the internet",
        expect=E(
            client_succeeds=False,
            data=Outcome.NOT_ATTEMPTED,
            codes=(Code.TRANSFER_FAILED,),
            where=Where.SERVER_HOST,
        ),
    ),
    Scenario(
        name="port-client-behind-nat-with-helper",
        site=ClientSite.NAT,
        mode=Mode.PORT,
        client_router=ClientRouterRules(helper=True),
        wrong="nothing: the client router's FTP helper rewrites PORT to its WAN address",
        symptom="the download works (the server sees PORT 203,0,113,2,…)",
        expect=E(
            client_succeeds=True, data=OK, codes=(Code.ALG_REWRITE,), where=Where.CLIENT_ROUTER
        ),
    ),
    Scenario(
        name="port-server-outbound-blocked",
        mode=Mode.PORT,
        server_router=ServerRouterRules(block_outbound=Block.DROP),
        wrong="the server's router drops new outbound connections (PORT data is outbound)",
        symptom="'425 Failed to establish connection.' after a pause",
        expect=E(
            client_succeeds=False,
            data=Outcome.UNANSWERED,
            codes=(Code.DATA_SYN_UNANSWERED,),
            where=Where.SERVER_ROUTER,
        ),
    ),
    Scenario(
        name="port-client-firewall",
        mode=Mode.PORT,
        client_firewall=HostFirewall(action=Block.DROP),
        wrong="the client's own firewall drops the server's incoming data connection",
        symptom="'425 Failed to establish connection.' after a pause",
        expect=E(
            client_succeeds=False,
            data=Outcome.UNANSWERED,
            codes=(Code.DATA_SYN_UNANSWERED,),
            where=Where.CLIENT_HOST,
        ),
    ),
    Scenario(
        name="pasv-helper-rewrites-227",
        trust_pasv=True,
        server=_LAN_SERVER,
        server_router=ServerRouterRules(forward_passive=None, helper=True),
        wrong="nothing visible: the server says 192.168.1.2, the router's helper rewrites the 227",
        symptom="the download works; the client sees 198.51.100.2 in the 227 reply",
        expect=E(
            client_succeeds=True, data=OK, codes=(Code.ALG_REWRITE,), where=Where.SERVER_ROUTER
        ),
    ),
    Scenario(
        name="hairpin",
        site=ClientSite.LAN,
        target=t.SERVER_WAN_V4,
        guide="step 6",
        wrong="a LAN client dials the global address and the router has no NAT loopback",
        symptom="'Connection refused' at once, although it works from the internet",
        expect=E(
            client_succeeds=False,
            data=Outcome.NOT_ATTEMPTED,
            control=Outcome.REFUSED,
            codes=(Code.CONTROL_REFUSED,),
            where=Where.SERVER_ROUTER,
        ),
    ),
    Scenario(
        name="hairpin-nat-loopback",
        site=ClientSite.LAN,
        target=t.SERVER_WAN_V4,
        server_router=ServerRouterRules(nat_loopback=True),
        wrong="nothing: the router loops LAN traffic for its WAN address back (NAT loopback)",
        symptom="the download works from inside the LAN via the global address",
        expect=E(client_succeeds=True, data=OK),
    ),
    Scenario(
        name="epsv-ok",
        site=ClientSite.NAT,
        mode=Mode.EPSV,
        wrong="nothing: EPSV (RFC 2428) carries only a port, so no address can leak",
        symptom="the download works",
        expect=E(client_succeeds=True, data=OK),
    ),
    Scenario(
        name="epsv-range-not-forwarded",
        site=ClientSite.NAT,
        mode=Mode.EPSV,
        server_router=ServerRouterRules(forward_passive=None, unforwarded=Block.DROP),
        wrong="EPSV port not forwarded: the router drops the data SYN",
        symptom="login works, the download hangs, then times out",
        expect=E(
            client_succeeds=False,
            data=Outcome.UNANSWERED,
            codes=(Code.DATA_SYN_UNANSWERED,),
            where=Where.SERVER_ROUTER,
        ),
    ),
    Scenario(
        name="ipv6-epsv",
        ipv6=True,
        mode=Mode.EPSV,
        server=ServerConfig(ipv6=True),
        wrong="nothing: IPv6 end to end, no NAT, the router's pinholes allow 21 and the range",
        symptom="the download works over IPv6",
        expect=E(client_succeeds=True, data=OK),
    ),
    Scenario(
        name="ipv6-eprt",
        ipv6=True,
        mode=Mode.EPRT,
        server=ServerConfig(ipv6=True),
        wrong="nothing: EPRT over IPv6, the server connects back to the client's global address",
        symptom="the download works over IPv6",
        expect=E(client_succeeds=True, data=OK),
    ),
    Scenario(
        name="ftps-explicit",
        site=ClientSite.NAT,
        server=ServerConfig(pasv_address=None, tls=True),
        server_router=ServerRouterRules(forward_passive=None, helper=True, unforwarded=Block.DROP),
        wrong="AUTH TLS encrypts the control channel: the router's FTP helper is blind",
        symptom="plain FTP works, FTPS logs in and then hangs on the listing/download",
        expect=E(
            client_succeeds=False,
            data=Outcome.UNANSWERED,
            codes=(Code.CONTROL_ENCRYPTED,),
            where=Where.SERVER_ROUTER,
        ),
    ),
    Scenario(
        name="loopback-ok",
        site=ClientSite.SERVER,
        guide="step 2",
        wrong="nothing: on the server itself, 127.0.0.1 works",
        symptom="the download works",
        expect=E(client_succeeds=True, data=OK),
    ),
    Scenario(
        name="lan-ok",
        site=ClientSite.LAN,
        server=_LAN_SERVER,
        guide="step 3",
        wrong="nothing: from another LAN machine, 192.168.1.2 works",
        symptom="the download works",
        expect=E(client_succeeds=True, data=OK),
    ),
    Scenario(
        name="loopback-server-localhost-only",
        site=ClientSite.LAN,
        guide="steps 2-3",
        server=ServerConfig(pasv_address=None, listen_address="127.0.0.1"),
        wrong="the server listens on 127.0.0.1 only: step 2 passes, step 3 cannot connect",
        symptom="'Connection refused' from the LAN (the loopback test still works)",
        expect=E(
            client_succeeds=False,
            data=Outcome.NOT_ATTEMPTED,
            control=Outcome.REFUSED,
            codes=(Code.CONTROL_REFUSED,),
            where=Where.SERVER_HOST,
        ),
    ),
    Scenario(
        name="lan-host-firewall",
        site=ClientSite.LAN,
        guide="step 3",
        server=_LAN_SERVER,
        server_firewall=HostFirewall(allow=(21,), action=Block.DROP),
        wrong="the server's host firewall opens port 21 only: passive data SYNs are dropped",
        symptom="login works, the listing/download hangs, then times out",
        expect=E(
            client_succeeds=False,
            data=Outcome.UNANSWERED,
            codes=(Code.DATA_SYN_UNANSWERED,),
            where=Where.SERVER_HOST,
        ),
    ),
)

BY_NAME = {s.name: s for s in SCENARIOS}


def get(name: str) -> Scenario:
    try:
        return BY_NAME[name]
    except KeyError:
        raise UsageError(f"no scenario {name!r} (see `ftptrace lab list`)") from None
