"""Packet capture at every vantage point of a lab run: one tcpdump, one pcap per vantage.

A vantage is a (host, interface) pair named for where it sits on the path, so a replay of
`server-router-wan.pcap` beside `server.pcap` shows what the server router changed or
dropped. tcpdump reads frames through AF_PACKET before netfilter's INPUT chain sees them:
a SYN in `server.pcap` that the server never answers proves "reached the host, dropped by
its firewall" (lab-notes).

Each tcpdump is started and waited for until it reports "listening on" (bounded), writes
packet-buffered (`-U`) so nothing is lost at stop, and is stopped with SIGINT (bounded, then
SIGKILL).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ftptrace.errors import LabError
from ftptrace.lab.topology import ClientSite, Host
from ftptrace.vantages import VANTAGES as VANTAGES  # re-exported

LISTEN_TIMEOUT = 10.0
STOP_TIMEOUT = 3.0
SNAPLEN = 2048
"""A whole 1500-byte frame (every control segment, TLS records included, stays complete for
the replay); the large GRO'd data segments that veth delivers are cut, keeping captures small."""
FILTER = "tcp or icmp or (icmp6 and ip6[40] < 128)"
"""TCP, ICMP errors, and ICMPv6 errors (types < 128) but not neighbour discovery."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Vantage:
    name: str
    host: Host
    iface: str


def vantages(site: ClientSite) -> tuple[Vantage, ...]:
    """The vantage points a topology has, client side first (as packets leave the client)."""
    out: list[Vantage] = []
    if site is ClientSite.SERVER:
        # The guide's step 2: client and server are one host; everything crosses `lo`.
        return (Vantage(name="server", host=Host.SERVER, iface="lo"),)
    if site is ClientSite.LAN:
        out.append(Vantage(name="client", host=Host.LAN_CLIENT, iface="eth0"))
    else:
        out.append(Vantage(name="client", host=Host.CLIENT, iface="eth0"))
        if site is ClientSite.NAT:
            out += [
                Vantage(name="client-router-lan", host=Host.CLIENT_ROUTER, iface="lan"),
                Vantage(name="client-router-wan", host=Host.CLIENT_ROUTER, iface="wan"),
            ]
        out.append(Vantage(name="server-router-wan", host=Host.SERVER_ROUTER, iface="wan"))
    out += [
        Vantage(name="server-router-lan", host=Host.SERVER_ROUTER, iface="br0"),
        Vantage(name="server", host=Host.SERVER, iface="eth0"),
    ]
    return tuple(out)


class Capture:
    """tcpdump on a set of vantages; `start()` returns once every one is listening."""

    def __init__(
        self,
        netns_of: dict[Host, str],
        points: Iterable[Vantage],
        out_dir: Path,
        *,
        snaplen: int = SNAPLEN,
    ) -> None:
        self._netns_of = netns_of
        self._points = tuple(points)
        self._dir = out_dir
        self._snaplen = snaplen
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self.files: dict[str, Path] = {}

    def start(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        try:
            for v in self._points:
                path = self._dir / f"{v.name}.pcap"
                path.unlink(missing_ok=True)
                argv = [
                    "ip",
                    "netns",
                    "exec",
                    self._netns_of[v.host],
                    "tcpdump",
                    "-n",
                    "-U",
                    "--immediate-mode",
                    "-Z",
                    "root",
                    "-i",
                    v.iface,
                    "-s",
                    str(self._snaplen),
                    "-w",
                    str(path),
                    FILTER,
                ]
                self._procs[v.name] = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                )
                self.files[v.name] = path
            deadline = time.monotonic() + LISTEN_TIMEOUT
            for name, proc in self._procs.items():
                _wait_listening(name, proc, deadline)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> dict[str, Path]:
        """Stop every tcpdump (SIGINT flushes the file); return the pcaps by vantage."""
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in self._procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            if proc.stderr is not None:
                proc.stderr.close()
        self._procs.clear()
        return {name: p for name, p in self.files.items() if p.exists()}


def _wait_listening(name: str, proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Read tcpdump's stderr until it says "listening on", bounded by `deadline`."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    seen = b""
    while b"listening on" not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise LabError(f"tcpdump at {name} did not start listening in {LISTEN_TIMEOUT:.0f}s")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            proc.wait(timeout=2)
            raise LabError(f"tcpdump at {name} exited: {seen.decode(errors='replace').strip()}")
        seen += chunk
