"""Building and removing a lab's namespaces with `ip`: the only module that runs `ip link`.

Nothing is ever created in the root namespace: each veth pair is born with its two ends
already inside lab namespaces (`ip -n A link add … peer … netns B`), so interface names
only need to be unique inside one namespace, and deleting the namespaces removes every link.
Every command is bounded in time; every wait is bounded in time and count.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Sequence

from ftptrace.errors import LabError
from ftptrace.lab.topology import PREFIX_RE, Plan, netns_name

IP_TIMEOUT = 10.0
"""Seconds any single `ip`/`nft`/`sysctl` call may take before the build is abandoned."""
READY_TIMEOUT = 10.0
"""Seconds the links get to come up (carrier, IPv6 link-local addresses) after a build."""


def sysctl(ns: str, *settings: str, check: bool = True) -> None:
    """Set kernel parameters inside one lab namespace (never in the root namespace)."""
    run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *settings], check=check)


def run(
    argv: Sequence[str],
    *,
    timeout: float = IP_TIMEOUT,
    stdin: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run one setup command, bounded in time; a failure becomes a `LabError`."""
    try:
        proc = subprocess.run(
            list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{' '.join(argv)}: no answer within {timeout:.0f}s") from exc
    except FileNotFoundError as exc:
        raise LabError(f"{argv[0]} is not installed") from exc
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.returncode}")
    return proc


def existing_namespaces() -> list[str]:
    """Names under /run/netns (what `ip netns list` shows), without spawning `ip`."""
    try:
        return sorted(os.listdir("/run/netns"))
    except FileNotFoundError:
        return []


def lab_namespaces(prefix: str | None = None) -> list[str]:
    """Namespaces that belong to ftptrace labs (all of them, or one run's)."""
    names = existing_namespaces()
    if prefix is not None:
        return [n for n in names if n.startswith(prefix)]
    return [n for n in names if len(n) > 7 and PREFIX_RE.match(n[:7])]


def build(prefix: str, p: Plan) -> None:
    """Create the namespaces, links, addresses, routes and router sysctls of plan `p`.

    IPv6 addresses are added with `nodad` so they are usable at once instead of after
    duplicate address detection (RFC 4862 §5.4), which would otherwise stall the first
    second of every IPv6 scenario.
    """
    taken = set(existing_namespaces())
    for host in p.hosts:
        ns = netns_name(prefix, host)
        if ns in taken:
            raise LabError(f"namespace {ns} exists already (another lab with this prefix?)")
        run(["ip", "netns", "add", ns])
        # No duplicate address detection on link-local addresses either: a tentative
        # fe80:: address delays the first neighbour discovery by a second or more.
        sysctl(ns, "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
    for br in p.bridges:
        ns = netns_name(prefix, br.host)
        run(["ip", "-n", ns, "link", "add", br.name, "type", "bridge"])
        # br_netfilter (built in here) would pass *bridged* frames through the router's
        # nft hooks too: a DNATted hairpin SYN is then both bridged and routed, and the
        # server answers twice. A home router's switch does not do that; turn it off.
        sysctl(
            ns,
            "net.bridge.bridge-nf-call-iptables=0",
            "net.bridge.bridge-nf-call-ip6tables=0",
            "net.bridge.bridge-nf-call-arptables=0",
            check=False,
        )
    for link in p.links:
        a_ns, b_ns = netns_name(prefix, link.a.host), netns_name(prefix, link.b.host)
        run(
            [
                "ip",
                "-n",
                a_ns,
                "link",
                "add",
                link.a.name,
                "type",
                "veth",
                "peer",
                "name",
                link.b.name,
                "netns",
                b_ns,
            ]
        )
        if link.bridge is not None:
            run(["ip", "-n", b_ns, "link", "set", link.b.name, "master", link.bridge])
    # Up first: carrier takes up to a second to show (see wait_ready); the rest of the
    # build overlaps with it.
    for link in p.links:
        for iface in (link.a, link.b):
            run(["ip", "-n", netns_name(prefix, iface.host), "link", "set", iface.name, "up"])
    for br in p.bridges:
        run(["ip", "-n", netns_name(prefix, br.host), "link", "set", br.name, "up"])
    for iface in p._ifaces():
        ns = netns_name(prefix, iface.host)
        if iface.v4:
            run(["ip", "-n", ns, "addr", "add", iface.v4, "dev", iface.name])
        if iface.v6:
            run(["ip", "-n", ns, "addr", "add", iface.v6, "dev", iface.name, "nodad"])
    for host in p.routers:
        ns = netns_name(prefix, host)
        sysctl(ns, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
    for r in p.routes:
        fam = "-6" if ":" in r.via else "-4"
        run(["ip", fam, "-n", netns_name(prefix, r.host), "route", "add", r.dest, "via", r.via])


def wait_ready(prefix: str, p: Plan, timeout: float = READY_TIMEOUT) -> None:
    """Return once every interface has carrier and its IPv6 link-local address.

    The kernel reports carrier changes through linkwatch, which may hold them back for up
    to a second; a bridge without carrier, or an interface without its fe80:: address
    (RFC 4291 §2.5.6, the source of every neighbour solicitation, RFC 4861 §7.2.2) would
    make the first packets of a scenario wait for neighbour discovery to retry.
    """
    want: dict[str, set[str]] = {}
    for iface in [i for link in p.links for i in (link.a, link.b)] + list(p.bridges):
        want.setdefault(netns_name(prefix, iface.host), set()).add(iface.name)
    deadline = time.monotonic() + timeout
    pending = dict(want)
    while pending:
        for ns in list(pending):
            out = run(["ip", "-n", ns, "-o", "-6", "addr", "show", "scope", "link"]).stdout
            have = {
                line.split()[1].split("@")[0]
                for line in out.splitlines()
                if "tentative" not in line and len(line.split()) > 1
            }
            up = run(["ip", "-n", ns, "-o", "link", "show", "up"]).stdout
            carrier = {
                line.split(":")[1].strip().split("@")[0]
                for line in up.splitlines()
                if "NO-CARRIER" not in line and "LOWER_UP" in line
            }
            if pending[ns] <= have & carrier:
                del pending[ns]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise LabError(f"links not ready after {timeout:.0f}s: {sorted(pending)}")
        time.sleep(0.05)


def teardown(prefix: str) -> list[str]:
    """Remove every namespace of one run: end the processes in it first, then delete it.

    Only processes inside this run's namespaces are signalled, and only by pid (they are the
    lab's own servers, captures and clients). Returns the namespaces removed.
    """
    removed = []
    for ns in lab_namespaces(prefix):
        kill_netns_processes(ns)
        run(["ip", "netns", "del", ns], check=False)
        removed.append(ns)
    return removed


def kill_netns_processes(ns: str) -> None:
    """SIGKILL the processes living in lab namespace `ns` (they would keep it alive)."""
    proc = run(["ip", "netns", "pids", ns], check=False)
    for word in proc.stdout.split():
        if word.isdigit() and int(word) != os.getpid():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(word), 9)
