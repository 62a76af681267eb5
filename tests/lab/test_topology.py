"""The lab's plan as data: addresses, routes, names (no root needed)."""

from __future__ import annotations

import ipaddress

import pytest

from ftptrace.lab import netns
from ftptrace.lab import topology as t
from ftptrace.lab.capture import VANTAGES, vantages
from ftptrace.lab.topology import ClientSite, Host


@pytest.mark.parametrize("site", list(ClientSite))
def test_interface_names_fit_the_kernel_limit(site: ClientSite) -> None:
    p = t.plan(site)
    for link in p.links:
        for iface in (link.a, link.b):
            assert len(iface.name) <= 15
    names = [(i.host, i.name) for link in p.links for i in (link.a, link.b)]
    assert len(names) == len(set(names)), "an interface name repeats inside one host"


def test_prefix_and_namespace_names() -> None:
    prefix = t.new_prefix()
    assert t.PREFIX_RE.match(prefix)
    for host in Host:
        ns = t.netns_name(prefix, host)
        assert ns.startswith(prefix) and len(ns) <= 15


def test_internet_has_no_route_to_private_ranges() -> None:
    for site in ClientSite:
        for r in t.plan(site).routes:
            if r.host is Host.INTERNET:
                assert r.dest != "default"
                assert ":" in r.dest, "the internet routes only IPv6 documentation space"


def test_client_behind_nat_gets_private_address_and_router() -> None:
    p = t.plan(ClientSite.NAT)
    assert Host.CLIENT_ROUTER in p.hosts and Host.CLIENT_ROUTER in p.routers
    addrs = " ".join(p.addresses()[Host.CLIENT])
    assert t.CLIENT_NAT_V4 in addrs
    direct = t.plan(ClientSite.INTERNET)
    assert Host.CLIENT_ROUTER not in direct.hosts
    assert t.CLIENT_DIRECT_V4 in " ".join(direct.addresses()[Host.CLIENT])


def test_every_ipv6_address_is_documentation_space() -> None:
    doc = ipaddress.ip_network("2001:db8::/32")
    for site in ClientSite:
        for addrs in t.plan(site).addresses().values():
            for a in addrs:
                ip = ipaddress.ip_interface(a.split()[1])
                if ip.version == 6:
                    assert ip.ip in doc


def test_vantages_follow_the_path() -> None:
    nat = [v.name for v in vantages(ClientSite.NAT)]
    assert nat == list(VANTAGES)
    assert [v.name for v in vantages(ClientSite.INTERNET)] == [
        "client",
        "server-router-wan",
        "server-router-lan",
        "server",
    ]
    lan = vantages(ClientSite.LAN)
    assert lan[0].host is Host.LAN_CLIENT
    assert [v.name for v in vantages(ClientSite.SERVER)] == ["server"]


def test_lab_namespaces_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        netns,
        "existing_namespaces",
        lambda: ["ft12ab-srv", "ft12ab-cli", "other", "ftzzzz-srv", "ft99ff-inet"],
    )
    assert netns.lab_namespaces() == ["ft12ab-srv", "ft12ab-cli", "ft99ff-inet"]
    assert netns.lab_namespaces("ft99ff-") == ["ft99ff-inet"]
