"""Hand-made TCP SYNs on a raw socket, and the netfilter rule that keeps our kernel quiet.

Crafted probes (`sweep`, `path`) send bare SYNs the kernel knows nothing about. Built here
with `struct` (a SYN is 20 bytes; scapy would cost ~100× more per packet on a 1000-port
sweep) and sent on a raw IP socket, so the kernel still routes and writes the IP header
(with the TTL we set per packet, RFC 791 §3.1). Answers are read by the same AF_PACKET
tap as the live probes.

A SYN-ACK to a crafted SYN reaches a kernel with no matching socket, which answers it with
a RST (RFC 9293 §3.10.7.1). That RST would tear down the server's half-open connection and
confuse stateful boxes on the way, so a temporary nftables rule drops outgoing RSTs from
exactly the probe's source ports while the probe runs, and is deleted in `finally`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import struct
import subprocess
from collections.abc import Iterator

from ftptrace.errors import PrivilegeError

SYN = 0x02
WINDOW = 64240
NFT_TIMEOUT = 5.0


def source_address(dst: str) -> str:
    """The local address the kernel would use towards `dst` (UDP connect sends nothing)."""
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.connect((dst, 9))
        return str(s.getsockname()[0]).split("%")[0]


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def syn_segment(src: str, dst: str, sport: int, dport: int, seq: int) -> bytes:
    """A 20-byte TCP SYN with a correct checksum over the pseudo-header
    (RFC 9293 §3.1 for IPv4, RFC 8200 §8.1 for IPv6)."""
    head = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, 0, 5 << 4, SYN, WINDOW,
                       0, 0)
    if ":" in dst:
        pseudo = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
                  + struct.pack("!IxxxB", len(head), socket.IPPROTO_TCP))
    else:
        pseudo = (socket.inet_aton(src) + socket.inet_aton(dst)
                  + struct.pack("!xBH", socket.IPPROTO_TCP, len(head)))
    csum = _checksum(pseudo + head)
    return head[:16] + struct.pack("!H", csum) + head[18:]


class RawSender:
    """Sends crafted TCP segments to one destination, TTL settable per packet."""

    def __init__(self, dst: str) -> None:
        self.dst = dst
        self.v6 = ":" in dst
        fam = socket.AF_INET6 if self.v6 else socket.AF_INET
        try:
            self.sock = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_TCP)
        except PermissionError:
            raise PrivilegeError("crafted SYN probes need root (raw sockets)") from None
        try:
            self.src = source_address(dst)
        except BaseException:
            self.sock.close()  # no route to dst (or Ctrl-C): do not leak the raw socket
            raise
        self._ttl = -1
        self.sent = 0

    def send(self, sport: int, dport: int, seq: int, ttl: int = 64) -> None:
        if ttl != self._ttl:
            if self.v6:
                self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
            else:
                self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            self._ttl = ttl
        seg = syn_segment(self.src, self.dst, sport, dport, seq)
        try:
            self.sock.sendto(seg, (self.dst, 0))
        except OSError:
            return  # ENOBUFS under a burst: counted as unsent; the port stays silent
        self.sent += 1

    def close(self) -> None:
        self.sock.close()


def nft_rule(table: str, lo: int, hi: int) -> str:
    """An nft ruleset dropping our kernel's RSTs from source ports lo..hi (both families)."""
    ports = str(lo) if lo == hi else f"{lo}-{hi}"
    return (f"table inet {table} {{\n"
            "  chain out {\n"
            "    type filter hook output priority filter; policy accept;\n"
            f"    tcp sport {ports} tcp flags & rst == rst drop\n"
            "  }\n"
            "}\n")


def _run(argv: list[str], stdin: str | None = None) -> bool:
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                              timeout=NFT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


@contextlib.contextmanager
def suppress_rsts(lo: int, hi: int) -> Iterator[str | None]:
    """Drop outgoing RSTs from our probe's source ports while the block runs.

    Yields None when the rule is in place, else a warning for the report. The table name
    carries our pid, so parallel probes never touch each other's rule.
    """
    table = f"ftptrace_probe_{os.getpid()}"
    nft = shutil.which("nft")
    ok = nft is not None and _run([nft, "-f", "-"], nft_rule(table, lo, hi))
    try:
        yield None if ok else ("could not install the nft rule that drops our kernel's RSTs "
                               "to unsolicited SYN-ACKs; the server saw a RST after each "
                               "SYN-ACK (harmless for the result)")
    finally:
        if ok and nft is not None:
            _run([nft, "delete", "table", "inet", table])
