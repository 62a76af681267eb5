"""Netfilter rulesets for the lab's routers and hosts, generated as nft text.

Each box gets one ruleset applied atomically with `nft -f` inside its namespace, so what
`lab status` prints is exactly what the kernel runs. The rules are the ones a home router
or host firewall really has: MASQUERADE out of the WAN, DNAT of port 21 and of the passive
range, a stateful filter for what is not forwarded (REJECT with a TCP reset, or DROP), and —
only where the scenario asks — the kernel's FTP helper, attached explicitly (since Linux 6.0
nothing is attached automatically; `nf_conntrack_helper` auto-assignment is gone).

The helper reads PORT/EPRT and 227/229 on the control connection, sets up an expectation for
the data connection (so it is RELATED and passes the filter) and, where NAT applies, rewrites
the address inside the command or reply (nf_nat_ftp). It cannot read a TLS control channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ftptrace.lab import netns
from ftptrace.lab import topology as t


class Block(StrEnum):
    """What a filter does with a connection it does not allow."""

    REJECT = "reject"
    """Answer the SYN with a TCP reset at once (`reject with tcp reset`)."""
    DROP = "drop"
    """Silently discard: the client retransmits its SYN until it gives up."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerRouterRules:
    """The server side's NAT router (192.168.1.1 / 198.51.100.2)."""

    forward_control: bool = True
    """DNAT WAN tcp/21 to the server."""
    forward_passive: tuple[int, int] | None = (50000, 50009)
    """The passive range DNATted to the server (None: not forwarded at all)."""
    unforwarded: Block = Block.REJECT
    """What a new inbound TCP connection to anything not forwarded meets."""
    helper: bool = False
    """Attach the kernel FTP helper to WAN-side connections to tcp/21."""
    nat_loopback: bool = False
    """Hairpin NAT: LAN hosts may use the WAN address and reach the server through the router."""
    block_outbound: Block | None = None
    """Refuse new connections from the server out to the WAN (PORT mode's data connection)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientRouterRules:
    """The client's own home router (10.0.0.1 / 203.0.113.2): MASQUERADE and a stateful
    filter that lets nothing new in from the WAN, as every home router does."""

    helper: bool = False
    """Attach the kernel FTP helper to LAN-side connections to tcp/21 (rewrites PORT)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HostFirewall:
    """A host's own packet filter: new inbound TCP only to `allow` ports."""

    allow: tuple[int, ...] = ()
    action: Block = Block.DROP


def _helper_block(iface: str) -> list[str]:
    return [
        '  ct helper ftp-standard { type "ftp" protocol tcp; }',
        "  chain helpers {",
        "    type filter hook prerouting priority filter; policy accept;",
        f'    iifname "{iface}" tcp dport 21 ct helper set "ftp-standard"',
        "  }",
    ]


def _ports(r: ServerRouterRules) -> str:
    ports = ["21"] if r.forward_control else []
    if r.forward_passive is not None:
        lo, hi = r.forward_passive
        ports.append(f"{lo}-{hi}" if hi != lo else str(lo))
    return ", ".join(ports)


def server_router(r: ServerRouterRules) -> str:
    """nft ruleset for the server's router.

    IPv6 is not translated (there is no NAT in the v6 plan), so the v6 "forwarding" is a
    pinhole to the same ports on the server's own address.
    """
    ports = _ports(r)
    block = "reject with tcp reset" if r.unforwarded is Block.REJECT else "drop"
    lines = [
        "table ip ftlab_nat {",
        "  chain prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
    ]
    if ports:
        lines.append(f'    iifname "wan" tcp dport {{ {ports} }} dnat to {t.SERVER_V4}')
        if r.nat_loopback:
            lines.append(
                f'    iifname "br0" ip daddr {t.SERVER_WAN_V4} tcp dport {{ {ports} }}'
                f" dnat to {t.SERVER_V4}"
            )
    lines += [
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        '    oifname "wan" masquerade',
    ]
    if r.nat_loopback:
        # The hairpin SNAT: without it the server answers the LAN client directly and the
        # client drops replies that come from an address it never talked to.
        lines.append(
            f'    oifname "br0" ip saddr {t.SERVER_LAN_V4} ip daddr {t.SERVER_V4}'
            " ct status dnat masquerade"
        )
    lines += ["  }", "}", "table inet ftlab_filter {"]
    if r.helper:
        lines += _helper_block("wan")
    lines += [
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
        "    ct state established,related accept",
    ]
    if r.block_outbound is not None:
        out = "reject with tcp reset" if r.block_outbound is Block.REJECT else "drop"
        lines.append(f'    iifname "br0" oifname "wan" meta l4proto tcp ct state new {out}')
    lines.append('    iifname "wan" ct status dnat accept')
    if ports:
        lines.append(f'    iifname "wan" ip6 daddr {t.SERVER_V6} tcp dport {{ {ports} }} accept')
    lines += [
        f'    iifname "wan" meta l4proto tcp ct state new {block}',
        "  }",
        "  chain input {",
        "    type filter hook input priority filter; policy accept;",
        "    ct state established,related accept",
        f'    iifname "wan" meta l4proto tcp ct state new {block}',
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def client_router(r: ClientRouterRules) -> str:
    """nft ruleset for the client's home router: MASQUERADE, nothing new in from the WAN."""
    lines = [
        "table ip ftlab_nat {",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        '    oifname "wan" masquerade',
        "  }",
        "}",
        "table inet ftlab_filter {",
    ]
    if r.helper:
        lines += _helper_block("lan")
    lines += [
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
        "    ct state established,related accept",
        '    iifname "wan" meta l4proto tcp ct state new drop',
        "  }",
        "  chain input {",
        "    type filter hook input priority filter; policy accept;",
        "    ct state established,related accept",
        '    iifname "wan" meta l4proto tcp ct state new drop',
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def host_firewall(fw: HostFirewall) -> str:
    """nft ruleset for a host's own firewall (loopback is always allowed)."""
    block = "reject with tcp reset" if fw.action is Block.REJECT else "drop"
    lines = [
        "table inet ftlab_host {",
        "  chain input {",
        "    type filter hook input priority filter; policy accept;",
        '    iifname "lo" accept',
        "    ct state established,related accept",
    ]
    if fw.allow:
        allowed = ", ".join(str(p) for p in fw.allow)
        lines.append(f"    tcp dport {{ {allowed} }} accept")
    lines += [f"    meta l4proto tcp ct state new {block}", "  }", "}"]
    return "\n".join(lines) + "\n"


def apply(namespace: str, ruleset: str) -> None:
    """Load one ruleset atomically into a lab namespace."""
    netns.run(["ip", "netns", "exec", namespace, "nft", "-f", "-"], stdin=ruleset)
