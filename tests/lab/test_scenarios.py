"""The scenario catalogue is consistent data (no root needed)."""

from __future__ import annotations

import json

import pytest

from ftptrace.errors import UsageError
from ftptrace.lab import scenarios
from ftptrace.lab.scenarios import SCENARIOS
from ftptrace.lab.shipped import scenario_dict
from ftptrace.lab.topology import ClientSite
from ftptrace.model import Outcome

REQUIRED = {
    "pasv-ok",
    "pasv-private-address",
    "pasv-range-not-forwarded-reject",
    "pasv-range-not-forwarded-drop",
    "pasv-range-partly-forwarded",
    "port-ok",
    "port-client-behind-nat",
    "port-client-behind-nat-illegal-port",
    "port-client-behind-nat-with-helper",
    "port-server-outbound-blocked",
    "port-client-firewall",
    "pasv-helper-rewrites-227",
    "hairpin",
    "hairpin-nat-loopback",
    "epsv-ok",
    "epsv-range-not-forwarded",
    "ipv6-epsv",
    "ipv6-eprt",
    "ftps-explicit",
    "loopback-server-localhost-only",
    "lan-host-firewall",
}


def test_every_required_scenario_exists_once() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names))
    assert set(names) >= REQUIRED


@pytest.mark.parametrize("sc", SCENARIOS, ids=lambda s: s.name)
def test_expectation_is_coherent(sc: scenarios.Scenario) -> None:
    e = sc.expect
    assert sc.wrong and sc.symptom and "\n" not in sc.wrong
    if e.client_succeeds:
        assert e.data is Outcome.ESTABLISHED and e.control is Outcome.ESTABLISHED
    else:
        assert e.where is not None and e.codes, "a failure says where and why"
        assert e.data is not Outcome.ESTABLISHED or e.control is not Outcome.ESTABLISHED
    if e.control is not Outcome.ESTABLISHED:
        assert e.data is Outcome.NOT_ATTEMPTED
    if sc.ipv6:
        assert ":" in sc.dial and sc.mode.value in ("epsv", "eprt")
    json.dumps(scenario_dict(sc))


def test_dial_addresses() -> None:
    assert scenarios.get("pasv-ok").dial == "198.51.100.2"
    assert scenarios.get("lan-ok").dial == "192.168.1.2"
    assert scenarios.get("hairpin").dial == "198.51.100.2"
    assert scenarios.get("hairpin").site is ClientSite.LAN
    assert scenarios.get("loopback-ok").dial == "127.0.0.1"
    assert scenarios.get("ipv6-epsv").dial == "2001:db8:1::2"


def test_unknown_scenario() -> None:
    with pytest.raises(UsageError):
        scenarios.get("no-such-thing")


def test_every_scenario_is_documented() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "failure-modes.md").read_text()
    for s in SCENARIOS:
        assert f"| `{s.name}` | {s.wrong} | {s.symptom} |" in text, s.name
