"""The `Lab` API and the lab commands, for real: exec inside hosts, isolation from the root
namespace, guaranteed teardown (exception, SIGTERM), lab up/status/exec/down, other clients
and the pyftpdlib server."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ftptrace.cli import app
from ftptrace.lab import netns, state
from ftptrace.lab import topology as t
from ftptrace.lab.runner import Lab, run_scenario

pytestmark = pytest.mark.lab
runner = CliRunner()
LAB_NETS = ("192.168.1.", "198.51.100.", "203.0.113.", "10.0.0.", "2001:db8:")


def gone(prefix: str) -> bool:
    return not netns.lab_namespaces(prefix) and not any(
        s.prefix == prefix for s in state.load_all()
    )


def test_exec_inside_hosts_and_nothing_in_the_root_namespace(require_lab: None) -> None:
    root_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    with Lab("pasv-ok") as lab:
        r = lab.exec("client", ["ip", "-o", "-4", "addr", "show", "dev", "eth0"], timeout=5)
        assert r.returncode == 0 and "10.0.0.2/24" in r.stdout
        r = lab.exec("server", ["cat", "/proc/net/tcp"], timeout=5)
        assert ":0015 00000000:0000 0A" in r.stdout  # vsftpd listens on 21 in there
        r = lab.exec("internet", ["ip", "-4", "route"], timeout=5)
        assert "192.168." not in r.stdout and "10.0.0." not in r.stdout
        root_addrs = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
        assert not any(net in root_addrs for net in LAB_NETS)
        assert subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout.count(
            "\n"
        ) == root_links.count("\n")
        r = lab.exec(
            "client", ["curl", "-sS", "--max-time", "5", f"ftp://{lab.dial}/test.txt"], timeout=10
        )
        assert r.returncode == 0 and r.stdout == "ftptrace!\n"
        prefix = lab.prefix
        assert netns.lab_namespaces(prefix)
    assert gone(prefix)


def test_exec_timeout_kills(require_lab: None) -> None:
    with Lab("lan-ok") as lab:
        r = lab.exec("lan-client", ["sleep", "30"], timeout=0.5)
        assert r.timed_out and r.elapsed < 5


def test_teardown_on_exception(require_lab: None) -> None:
    prefix = ""
    with pytest.raises(RuntimeError), Lab("port-ok") as lab:
        prefix = lab.prefix
        raise RuntimeError("boom")
    assert prefix and gone(prefix)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_teardown_on_signal(require_lab: None, sig: signal.Signals) -> None:
    code = (
        "import time\nfrom ftptrace.lab.runner import Lab\n"
        "with Lab('pasv-ok') as lab:\n    print(lab.prefix, flush=True)\n    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        prefix = proc.stdout.readline().strip()
        assert t.PREFIX_RE.match(prefix) and netns.lab_namespaces(prefix)
        proc.send_signal(sig)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert gone(prefix)


def test_up_status_exec_down(require_lab: None) -> None:
    result = runner.invoke(app, ["lab", "up", "port-ok"])
    assert result.exit_code == 0, result.output
    m = re.match(r"lab (ft[0-9a-f]{4}): scenario port-ok", result.output)
    assert m, result.output
    prefix = m.group(1)
    try:
        assert "netfilter on server-router" in result.output
        assert "connect_from_port_20=YES" in result.output
        status = runner.invoke(app, ["lab", "status", prefix])
        assert status.exit_code == 0 and "203.0.113.10/24" in status.output
        ok = runner.invoke(app, ["lab", "exec", "client", "--lab", prefix, "--", "true"])
        assert ok.exit_code == 0, ok.output
        bad = runner.invoke(app, ["lab", "exec", "client", "--lab", prefix, "--", "false"])
        assert bad.exit_code == 1
        nohost = runner.invoke(app, ["lab", "exec", "client-router", "--lab", prefix, "--", "true"])
        assert nohost.exit_code == 2 and "no host" in nohost.output
    finally:
        down = runner.invoke(app, ["lab", "down", prefix])
    assert down.exit_code == 0 and "removed 5 namespace(s)" in down.output
    assert gone(prefix + "-")
    again = runner.invoke(app, ["lab", "down", prefix])
    assert again.exit_code == 0 and "removed 0" in again.output


def test_down_removes_a_crashed_runs_namespaces(require_lab: None) -> None:
    prefix = t.new_prefix()
    netns.run(["ip", "netns", "add", prefix + "srv"])
    netns.run(["ip", "netns", "add", prefix + "cli"])
    assert len(netns.lab_namespaces(prefix)) == 2
    removed = state.down(prefix)
    assert sorted(removed) == sorted([prefix + "srv", prefix + "cli"])
    assert not netns.lab_namespaces(prefix)


def test_down_leaves_a_live_owners_lab_alone(require_lab: None) -> None:
    with Lab("lan-ok") as lab:
        swept = state.down(None)  # a sweep: must not touch a lab whose owner is alive
        assert not any(ns.startswith(lab.prefix) for ns in swept)
        assert netns.lab_namespaces(lab.prefix)


@pytest.mark.parametrize(
    ("scenario", "client", "mode"),
    [
        ("pasv-ok", "lftp", "pasv"),
        ("pasv-ok", "ftplib", "pasv"),
        ("epsv-ok", "lftp", "epsv"),
        ("epsv-ok", "ftplib", "epsv"),
        ("port-ok", "lftp", "port"),
        ("port-ok", "ftplib", "port"),
        ("port-ok", "ftplib", "eprt"),
        ("ipv6-eprt", "lftp", "eprt"),
        ("ipv6-epsv", "ftplib", "epsv"),
        ("pasv-range-not-forwarded-reject", "lftp", "pasv"),
        ("pasv-private-address", "ftplib", "pasv"),
        ("port-client-behind-nat-illegal-port", "ftplib", "port"),
    ],
)
def test_other_clients(require_lab: None, scenario: str, client: str, mode: str) -> None:
    run = run_scenario(scenario, client, mode)
    assert run.succeeded == run.scenario.expect.client_succeeds, (
        f"{run.summary}\n{run.result.stderr[-2000:]}\n{run.result.stdout[-1000:]}"
    )
    assert "lab@example.net" not in run.result.stderr + run.result.stdout


@pytest.mark.parametrize(
    "scenario",
    [
        "pasv-ok",
        "port-ok",
        "pasv-range-not-forwarded-reject",
        "port-client-behind-nat-illegal-port",
    ],
)
def test_pyftpdlib_server(require_lab: None, scenario: str) -> None:
    run = run_scenario(scenario, server="pyftpdlib")
    assert run.server == "pyftpdlib"
    assert run.succeeded == run.scenario.expect.client_succeeds, (
        f"{run.summary}\n{run.result.stderr[-2000:]}"
    )


def test_labs_in_parallel_never_collide(require_lab: None) -> None:
    with Lab("pasv-ok") as a, Lab("pasv-ok") as b:
        assert a.prefix != b.prefix
        ra = a.exec("client", ["curl", "-sS", "--max-time", "5", f"ftp://{a.dial}/test.txt"], 10)
        rb = b.exec("client", ["curl", "-sS", "--max-time", "5", f"ftp://{b.dial}/test.txt"], 10)
        assert ra.stdout == rb.stdout == "ftptrace!\n"


def test_no_leftovers_after_the_suite(require_lab: None) -> None:
    mine = [s for s in state.load_all() if s.owner_pid == os.getpid()]
    assert not mine, [s.prefix for s in mine]


def test_cli_run_with_capture(require_lab: None, tmp_path: Path) -> None:
    result = runner.invoke(app, ["lab", "run", "port-ok", "--capture", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "(as expected)" in result.output
    assert "> PASS" not in result.output or "> PASS ********" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "client.pcap",
        "server-router-lan.pcap",
        "server-router-wan.pcap",
        "server.pcap",
    ]


def test_cli_run_refuses_a_mode_the_client_lacks(require_lab: None) -> None:
    result = runner.invoke(app, ["lab", "run", "pasv-ok", "--client", "lftp", "--mode", "eprt"])
    assert result.exit_code == 2
    assert "EPRT only over IPv6" in result.output
    bad = runner.invoke(app, ["lab", "run", "pasv-ok", "--mode", "sideways"])
    assert bad.exit_code == 2
