"""`ftptrace check` for real: from the internet client, from the LAN client and on the
server, in scenarios where each step should pass or fail; which step fails first.

All cases run at once (each lab has its own namespaces). Name resolution for the DNS step
comes from a private hosts file that `ip netns exec` mounts over /etc/hosts inside the
client's namespace (/etc/netns/NS/hosts), with a resolv.conf naming only 127.0.0.1: no
real DNS server is ever asked.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.lab

NETNS_ETC = Path("/etc/netns")


@dataclass(frozen=True)
class Case:
    scenario: str
    host: str
    args: tuple[str, ...]
    first_failure: str | None
    passes: tuple[str, ...] = ()
    hosts_file: str | None = None


CASES = {
    # Internet client behind its own NAT, no helper: passive works, PORT is refused.
    "internet-pasv-ok": Case("pasv-ok", "client", ("198.51.100.2",), "port-list",
                             ("public-address", "control-port", "login", "pasv-list",
                              "pasv-download")),
    # Only 21 forwarded, the router drops the data SYN: the first data step fails.
    "internet-range-dropped": Case("pasv-range-not-forwarded-drop", "client",
                                   ("198.51.100.2",), "pasv-list",
                                   ("control-port", "login")),
    # A LAN client: everything works on the LAN address; the global address does not.
    "lan-hairpin": Case("hairpin", "lan-client",
                        ("192.168.1.2", "--public-ip", "198.51.100.2"), "hairpin",
                        ("lan", "login", "pasv-list", "pasv-download", "port-list",
                         "port-download", "public-address")),
    # On the server: it works on 127.0.0.1, but listens on nothing else.
    "server-localhost-only": Case("loopback-server-localhost-only", "server",
                                  ("192.168.1.2",), "lan", ("loopback",)),
    # From the internet with a stale dynamic-DNS record (everything else works).
    "internet-stale-dns": Case("port-ok", "client",
                               ("198.51.100.2", "--hostname", "ftp.example.test"), "hostname",
                               ("control-port", "login", "pasv-list", "port-list",
                                "port-download"),
                               hosts_file="198.51.100.77 ftp.example.test\n"),
}


def run_case(case: Case) -> tuple[dict[str, Any], int, str]:
    from ftptrace.lab.runner import Lab

    with Lab(case.scenario) as lab:
        private = None
        made_root = False
        if case.hosts_file is not None:
            made_root = not NETNS_ETC.exists()
            private = NETNS_ETC / lab.netns(case.host)
            private.mkdir(parents=True)
            (private / "hosts").write_text(case.hosts_file)
            (private / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        try:
            r = lab.exec(case.host, ["ftptrace", "check", *case.args, "--json",
                                     "--timeout", "2"], timeout=90)
        finally:
            if private is not None:
                shutil.rmtree(private, ignore_errors=True)
                if made_root:
                    NETNS_ETC.rmdir()
    assert r.stdout, r.stderr
    return json.loads(r.stdout), r.returncode, r.stderr


@pytest.fixture(scope="module")
def results(require_lab: None) -> dict[str, tuple[dict[str, Any], int, str]]:
    with ThreadPoolExecutor(max_workers=len(CASES), thread_name_prefix="check") as pool:
        futures = {name: pool.submit(run_case, c) for name, c in CASES.items()}
        return {name: f.result() for name, f in futures.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_first_failing_step(results: dict[str, tuple[dict[str, Any], int, str]],
                            name: str) -> None:
    case = CASES[name]
    doc, code, err = results[name]
    check = doc["check"]
    steps = {s["id"]: s for s in check["steps"]}
    assert check["first_failure"] == case.first_failure, {
        k: (v["status"], v["summary"]) for k, v in steps.items()}
    for step in case.passes:
        assert steps[step]["status"] == "pass", (step, steps[step]["summary"])
    failed = steps[case.first_failure] if case.first_failure else None
    if failed is not None:
        assert failed["checklist"], "a failed step says what to check"
    assert code == (1 if case.first_failure else 0), err
    assert doc["schema"] == "ftptrace/1"


def test_a_refused_port_is_explained(results: dict[str, tuple[dict[str, Any], int, str]]) -> None:
    steps = {s["id"]: s for s in results["internet-pasv-ok"][0]["check"]["steps"]}
    assert steps["port-download"]["status"] == "skipped"
    assert any("Illegal PORT" in c for c in steps["port-list"]["checklist"])


def test_dropped_passive_ports_point_at_the_forwarding(
        results: dict[str, tuple[dict[str, Any], int, str]]) -> None:
    steps = {s["id"]: s for s in results["internet-range-dropped"][0]["check"]["steps"]}
    assert "forward the whole passive range" in steps["pasv-list"]["checklist"][0].lower()
    assert steps["pasv-list"]["seconds"] >= 1.5, "the probe waited for the SYN's answer"


def test_the_later_steps_say_why_they_were_skipped(
        results: dict[str, tuple[dict[str, Any], int, str]]) -> None:
    steps = {s["id"]: s for s in results["server-localhost-only"][0]["check"]["steps"]}
    for step in ("login", "pasv-list", "port-list"):
        assert steps[step]["status"] == "skipped"
        assert "nothing answers FTP at the LAN address" in steps[step]["summary"]


def test_stale_dns_names_both_addresses(
        results: dict[str, tuple[dict[str, Any], int, str]]) -> None:
    step = {s["id"]: s for s in results["internet-stale-dns"][0]["check"]["steps"]}["hostname"]
    assert "198.51.100.77" in step["summary"] and "198.51.100.2" in step["summary"]
    assert "hosts file" in step["evidence"][0]
