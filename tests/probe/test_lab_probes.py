"""Live probes run inside the lab's client namespace against the lab's real vsftpd.

Each test builds one scenario (`Lab`), runs `ftptrace …` in the client's namespace with
`--json`, and checks the scenario's outcome, finding codes and `where`. Traffic stays
inside the lab's namespaces.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.lab

FTPTRACE = [sys.executable, "-c", "from ftptrace.cli import main; main()"]
SERVER_WAN = "198.51.100.2"


@pytest.fixture
def lab_factory(require_lab: None) -> Iterator[Any]:
    from ftptrace.lab.runner import Lab

    opened: list[Any] = []

    def make(name: str) -> Any:
        lab = Lab(name)
        lab.__enter__()
        opened.append(lab)
        return lab

    try:
        yield make
    finally:
        for lab in opened:
            lab.__exit__(None, None, None)


def run(lab: Any, *args: str, timeout: float = 30) -> tuple[int, dict[str, Any], float]:
    r = lab.exec(lab.client_host, [*FTPTRACE, *args, "--json"], timeout=timeout)
    assert not r.timed_out, r.stderr
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout), r.elapsed


def findings(doc: dict[str, Any]) -> dict[str, str]:
    return {f["code"]: f["where"] for f in doc["findings"]}


def channel(doc: dict[str, Any], i: int = 0) -> dict[str, Any]:
    ch: dict[str, Any] = doc["sessions"][0]["data_channels"][i]
    return ch


def test_pasv_ok(lab_factory: Any) -> None:
    lab = lab_factory("pasv-ok")
    rc, doc, _ = run(lab, "pasv", lab.dial)
    assert rc == 0
    assert doc["probe"]["privileged"] is True
    assert channel(doc)["outcome"] == "established"
    assert not [f for f in doc["findings"] if f["severity"] == "error"]
    assert doc["probe"]["attempts"][0]["wire"].startswith("1 SYN → SYN-ACK")
    assert any(t["text"].startswith("198.51.100.2 port 5") for t in doc["transcript"])


def test_pasv_private_address(lab_factory: Any) -> None:
    lab = lab_factory("pasv-private-address")
    _, doc, _ = run(lab, "pasv", lab.dial)  # works via the peer: an error or a warning
    assert findings(doc)["PASV_PRIVATE_ADDRESS"] == "server-host"
    port = channel(doc)["announced"]["port"]
    assert doc["probe"]["attempts"][0]["dialed"] == f"{SERVER_WAN}:{port}"
    assert channel(doc)["outcome"] == "established"  # via the control peer, as curl does
    rc, doc, _ = run(lab, "pasv", lab.dial, "--follow-announced", "-t", "2")
    assert rc == 1
    f = findings(doc)
    assert f["PASV_PRIVATE_ADDRESS"] == "server-host" and "DATA_UNREACHABLE" in f
    assert channel(doc)["outcome"] == "unreachable"
    assert channel(doc)["connection"]["icmp"]["kind"] == "net-unreachable"


def test_pasv_range_not_forwarded_reject(lab_factory: Any) -> None:
    lab = lab_factory("pasv-range-not-forwarded-reject")
    rc, doc, _ = run(lab, "pasv", lab.dial, "-t", "2")
    assert rc == 1
    assert findings(doc)["DATA_REFUSED"] == "server-router"
    rst = channel(doc)["connection"]["rst"]
    assert rst["sender"] == SERVER_WAN and rst["from_peer"] is False
    assert "a box on the path" in doc["probe"]["attempts"][0]["wire"]


def test_pasv_range_not_forwarded_drop_ends_in_time(lab_factory: Any) -> None:
    lab = lab_factory("pasv-range-not-forwarded-drop")
    rc, doc, elapsed = run(lab, "pasv", lab.dial, "-t", "2")
    assert rc == 1
    assert findings(doc)["DATA_SYN_UNANSWERED"] == "server-router"
    assert channel(doc)["outcome"] == "unanswered"
    assert doc["probe"]["seconds"] <= 2 + 1
    assert elapsed <= 2 + 1 + 1.5  # plus the interpreter's start-up


def test_port_ok(lab_factory: Any) -> None:
    lab = lab_factory("port-ok")
    rc, doc, _ = run(lab, "port", lab.dial)
    assert rc == 0
    ch = channel(doc)
    assert ch["outcome"] == "established"
    assert ch["connection"]["orig"] == {"ip": SERVER_WAN, "port": 20}
    assert "answered by this host" in doc["probe"]["attempts"][0]["wire"]


def test_port_client_behind_nat_illegal_port(lab_factory: Any) -> None:
    lab = lab_factory("port-client-behind-nat-illegal-port")
    rc, doc, _ = run(lab, "port", lab.dial, "-t", "2")
    assert rc == 1
    f = findings(doc)
    assert f["PORT_REJECTED"] == "client-router" and f["PORT_PRIVATE_ADDRESS"] == "client-router"
    assert doc["probe"]["attempts"][0]["socket_result"] == "rejected"


def test_port_client_firewall(lab_factory: Any) -> None:
    lab = lab_factory("port-client-firewall")
    rc, doc, _ = run(lab, "port", lab.dial, "-t", "2")
    assert rc == 1
    assert findings(doc)["DATA_SYN_UNANSWERED"] == "client-host"
    wire = doc["probe"]["attempts"][0]["wire"]
    assert "never answered" in wire and "local firewall" in wire
    assert doc["probe"]["seconds"] <= 2 + 1


def test_sweep_finds_exactly_the_forwarded_range(lab_factory: Any) -> None:
    lab = lab_factory("pasv-range-partly-forwarded")
    rc, doc, _ = run(lab, "sweep", lab.dial, "--ports", "50000-50009")
    assert rc == 1
    assert doc["sweep"]["forwarded"] == "50000-50004"
    assert doc["sweep"]["not_forwarded"] == "50005-50009"
    assert findings(doc)["PASSIVE_RANGE_PARTIALLY_FORWARDED"] == "server-router"
    assert doc["sweep"]["warnings"] == []


def test_sweep_learns_the_range_from_pasv(lab_factory: Any) -> None:
    lab = lab_factory("pasv-ok")
    rc, doc, _ = run(lab, "sweep", lab.dial, "--from-pasv", "3")
    assert rc == 0
    assert len(doc["sweep"]["learned_from"]) == 3
    assert doc["sweep"]["not_forwarded"] == "none"


def test_path_names_the_servers_router(lab_factory: Any) -> None:
    lab = lab_factory("pasv-range-not-forwarded-drop")
    rc, doc, _ = run(lab, "path", lab.dial, "--port", "50005")
    assert rc == 1
    p = doc["path"]
    assert p["stopped_by"] == SERVER_WAN and p["stopped_at"] == 3
    assert p["hops"][1]["data"]["sender"] == "203.0.113.1"
    assert p["hops"][3]["control"]["kind"] == "synack"


def test_ftps_probe_sees_through_its_own_tls(lab_factory: Any, tmp_path: Any) -> None:
    lab = lab_factory("ftps-explicit")
    keylog = tmp_path / "keys.txt"
    rc, doc, _ = run(lab, "pasv", lab.dial, "--tls", "--keylog", str(keylog), "-t", "2")
    assert rc == 1
    f = findings(doc)
    assert "CONTROL_ENCRYPTED" in f and f["DATA_SYN_UNANSWERED"] == "server-router"
    assert doc["sessions"][0]["tls"] is True
    assert keylog.read_text().count("CLIENT_") >= 1
