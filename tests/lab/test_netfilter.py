"""Ruleset generation for the lab's routers and hosts (no root needed)."""

from __future__ import annotations

from ftptrace.lab import netfilter as nf
from ftptrace.lab import topology as t


def test_server_router_forwards_control_and_passive_range() -> None:
    text = nf.server_router(nf.ServerRouterRules())
    assert f'iifname "wan" tcp dport {{ 21, 50000-50009 }} dnat to {t.SERVER_V4}' in text
    assert 'oifname "wan" masquerade' in text
    assert "ct helper" not in text
    assert "reject with tcp reset" in text


def test_unforwarded_range_drop_variant() -> None:
    text = nf.server_router(nf.ServerRouterRules(forward_passive=None, unforwarded=nf.Block.DROP))
    assert "tcp dport { 21 } dnat" in text
    assert "50000" not in text
    assert "reject" not in text
    assert 'iifname "wan" meta l4proto tcp ct state new drop' in text


def test_partly_forwarded_range() -> None:
    text = nf.server_router(nf.ServerRouterRules(forward_passive=(50000, 50004)))
    assert "{ 21, 50000-50004 }" in text


def test_helper_is_attached_explicitly_on_the_wan_side() -> None:
    text = nf.server_router(nf.ServerRouterRules(helper=True))
    assert 'ct helper ftp-standard { type "ftp" protocol tcp; }' in text
    assert 'iifname "wan" tcp dport 21 ct helper set "ftp-standard"' in text


def test_client_router_helper_on_the_lan_side() -> None:
    assert "ct helper" not in nf.client_router(nf.ClientRouterRules())
    text = nf.client_router(nf.ClientRouterRules(helper=True))
    assert 'iifname "lan" tcp dport 21 ct helper set "ftp-standard"' in text
    assert 'iifname "wan" meta l4proto tcp ct state new drop' in text


def test_nat_loopback_adds_hairpin_dnat_and_snat() -> None:
    plain = nf.server_router(nf.ServerRouterRules())
    assert 'iifname "br0"' not in plain
    text = nf.server_router(nf.ServerRouterRules(nat_loopback=True))
    assert f'iifname "br0" ip daddr {t.SERVER_WAN_V4}' in text
    assert "ct status dnat masquerade" in text


def test_outbound_block() -> None:
    text = nf.server_router(nf.ServerRouterRules(block_outbound=nf.Block.DROP))
    assert 'iifname "br0" oifname "wan" meta l4proto tcp ct state new drop' in text


def test_ipv6_pinholes_match_the_forwarded_ports() -> None:
    text = nf.server_router(nf.ServerRouterRules())
    assert f"ip6 daddr {t.SERVER_V6} tcp dport {{ 21, 50000-50009 }} accept" in text


def test_host_firewall() -> None:
    text = nf.host_firewall(nf.HostFirewall(allow=(21,), action=nf.Block.DROP))
    assert "tcp dport { 21 } accept" in text
    assert 'iifname "lo" accept' in text
    assert text.index("ct state established,related accept") < text.index("ct state new drop")
    rej = nf.host_firewall(nf.HostFirewall(action=nf.Block.REJECT))
    assert "dport" not in rej and "reject with tcp reset" in rej


def test_rulesets_are_balanced() -> None:
    for text in (
        nf.server_router(
            nf.ServerRouterRules(helper=True, nat_loopback=True, block_outbound=nf.Block.REJECT)
        ),
        nf.client_router(nf.ClientRouterRules(helper=True)),
        nf.host_firewall(nf.HostFirewall()),
    ):
        assert text.count("{") == text.count("}")
