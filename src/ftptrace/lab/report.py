"""Plain-text views of labs for the CLI: the scenario list, `lab status`, a run's result.

Plain text on purpose: these lines are meant to be pasted into bug reports and docs, and
the lab must not depend on the renderers (imports point down, see architecture.md).
"""

from __future__ import annotations

import time
from pathlib import Path

from ftptrace.lab import netns
from ftptrace.lab import topology as t
from ftptrace.lab.runner import LabRun
from ftptrace.lab.scenarios import SCENARIOS, Scenario, get
from ftptrace.lab.state import LabState


def scenario_list() -> list[str]:
    width = max(len(s.name) for s in SCENARIOS)
    out = []
    for s in SCENARIOS:
        mark = "ok  " if s.expect.client_succeeds else "FAIL"
        out.append(f"{s.name:<{width}}  {mark}  {s.wrong}")
        out.append(f"{'':<{width}}        user sees: {s.symptom}")
    return out


def expectation_line(sc: Scenario) -> str:
    e = sc.expect
    if e.client_succeeds and not e.codes:
        return "expected: the client succeeds"
    parts = ["the client succeeds" if e.client_succeeds else "the client fails"]
    if e.control.value != "established":
        parts.append(f"control {e.control.value}")
    elif not e.client_succeeds:
        parts.append(f"data {e.data.value}")
    if e.codes:
        parts.append(", ".join(c.value for c in e.codes))
    if e.where is not None:
        parts.append(f"at {e.where.value}")
    return "expected: " + "; ".join(parts)


def status(s: LabState) -> list[str]:
    """Hosts, addresses, netfilter rules, the server's settings, and how to get inside."""
    sc = get(s.scenario)
    age = time.time() - s.created if s.created else 0.0
    kind = "kept by `lab up`" if s.persistent else f"owned by pid {s.owner_pid}"
    out = [
        f"lab {s.prefix.rstrip('-')}: scenario {sc.name} ({kind}, up {age:.0f}s)",
        f"  wrong: {sc.wrong}",
        f"  {expectation_line(sc)}",
        f"  the client dials {sc.dial} (FTP server: {s.server}, pid {s.server_pid})",
        "",
    ]
    p = t.plan(sc.site)
    addrs = p.addresses()
    out.append("hosts:")
    for host in p.hosts:
        ns = s.namespaces.get(host.value, t.netns_name(s.prefix, host))
        out.append(f"  {host.value:<14} netns {ns}")
        out += [f"  {'':<14}   {a}" for a in addrs[host]]
    for host in p.hosts:
        ns = s.namespaces.get(host.value, t.netns_name(s.prefix, host))
        rules = netns.run(["ip", "netns", "exec", ns, "nft", "list", "ruleset"], check=False)
        if rules.stdout.strip():
            out += ["", f"netfilter on {host.value}:"]
            out += ["  " + line for line in rules.stdout.rstrip().splitlines()]
    conf = Path(s.workdir) / "vsftpd.conf"
    if conf.exists():
        out += ["", f"FTP server settings ({conf}):"]
        out += ["  " + line for line in conf.read_text().splitlines()]
    prefix = s.prefix.rstrip("-")
    out += [
        "",
        "run a command inside a host:",
        f"  ftptrace lab exec client --lab {prefix} -- curl -v ftp://{sc.dial}/test.txt",
        f"  ftptrace lab exec server --lab {prefix} -- ss -ltn",
        f"  (or: ip netns exec {t.netns_name(s.prefix, t.Host.CLIENT)} bash)",
    ]
    return out


def run_result(run: LabRun, *, transcript: bool = True) -> list[str]:
    sc = run.scenario
    verdict = "as expected" if run.as_expected else "NOT as expected"
    out = [
        f"{sc.name}: {sc.wrong}",
        f"  user sees: {sc.symptom}",
        f"  {expectation_line(sc)}",
        f"  measured: {run.summary} ({verdict})",
    ]
    if transcript:
        text = (run.result.stdout + "\n" + run.result.stderr).strip()
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(("{", "}"))]
        if lines:
            out.append("  client output:")
            out += ["    " + ln for ln in lines[-40:]]
    if run.captures:
        out.append("  captures:")
        out += [f"    {name:<18} {path}" for name, path in run.captures.items()]
    return out
