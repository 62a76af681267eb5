"""Name resolution for the dynamic-DNS step: addresses *and* the record's TTL.

`getaddrinfo` gives no TTL, and the TTL is what says how long the world keeps using an old
address after a dynamic-IP change. So a name found in the hosts file is taken from there
(as the C library would, files first), anything else is asked of the resolvers in
resolv.conf with a minimal stub query (RFC 1035 §4.1: header, question, answers; CNAME
chains followed inside the answer; §4.1.4 name compression). Every query is bounded in
time and count. Tests inject a `Resolver` and never reach a real DNS server.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HOSTS = Path("/etc/hosts")
RESOLV_CONF = Path("/etc/resolv.conf")
MAX_SERVERS = 2
DNS_PORT = 53
TYPE_A, TYPE_AAAA, TYPE_CNAME = 1, 28, 5


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolution:
    name: str
    addresses: tuple[str, ...]
    ttl: int | None
    """Seconds the answer may be cached (the smallest along a CNAME chain); None: unknown
    (hosts file, or a resolver that could not be asked directly)."""
    source: str
    """'hosts file', 'DNS server 192.0.2.53', 'system resolver' …"""
    error: str = ""


Resolver = Callable[[str, float], Resolution]
"""(name, timeout seconds) -> Resolution."""


def resolve(name: str, timeout: float, *, hosts: Path = HOSTS,
            resolv_conf: Path = RESOLV_CONF) -> Resolution:
    """The default resolver: hosts file, then the configured DNS servers, then libc."""
    found = from_hosts(name, hosts)
    if found:
        return Resolution(name=name, addresses=found, ttl=None, source=f"hosts file {hosts}")
    deadline = time.monotonic() + timeout
    errors = []
    for server in nameservers(resolv_conf)[:MAX_SERVERS]:
        addrs: list[str] = []
        ttls: list[int] = []
        try:
            for qtype in (TYPE_A, TYPE_AAAA):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no answer in time")
                got, ttl = query(name, qtype, server, left)
                addrs += got
                if ttl is not None:
                    ttls.append(ttl)
        except (OSError, ValueError) as exc:
            errors.append(f"{server}: {exc}")
            continue
        if addrs:
            return Resolution(name=name, addresses=tuple(addrs), ttl=min(ttls) if ttls else None,
                              source=f"DNS server {server}")
        errors.append(f"{server}: no address for {name}")
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        return Resolution(name=name, addresses=(), ttl=None, source="system resolver",
                          error="; ".join([*errors, str(exc.strerror or exc)]))
    addrs = list(dict.fromkeys(str(i[4][0]) for i in infos))
    return Resolution(name=name, addresses=tuple(addrs), ttl=None, source="system resolver")


def from_hosts(name: str, path: Path = HOSTS) -> tuple[str, ...]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ()
    out = []
    want = name.lower().rstrip(".")
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and want in (w.lower() for w in words[1:]):
            out.append(words[0])
    return tuple(dict.fromkeys(out))


def nameservers(path: Path = RESOLV_CONF) -> list[str]:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                out.append(ipaddress.ip_address(words[1].split("%")[0]).compressed)
            except ValueError:
                continue
    return out


# --- the stub query (RFC 1035 §4.1) -------------------------------------------------------


def build_query(name: str, qtype: int, ident: int) -> bytes:
    labels = [p.encode("idna") for p in name.rstrip(".").split(".") if p]
    if not labels or any(len(x) > 63 for x in labels):
        raise ValueError(f"not a host name: {name!r}")
    qname = b"".join(bytes([len(x)]) + x for x in labels) + b"\x00"
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + qname + struct.pack(
        "!HH", qtype, 1)


def _name_end(msg: bytes, pos: int) -> int:
    """Offset just past a (possibly compressed) name starting at `pos`."""
    for _ in range(128):
        n = msg[pos]
        if n == 0:
            return pos + 1
        if n & 0xC0 == 0xC0:
            return pos + 2
        pos += 1 + n
    raise ValueError("name too long")


def parse_answer(msg: bytes, ident: int, qtype: int) -> tuple[list[str], int | None]:
    """(addresses of type `qtype`, smallest TTL of the records used) from a response."""
    if len(msg) < 12:
        raise ValueError("short DNS answer")
    rid, flags, qd, an, _, _ = struct.unpack_from("!HHHHHH", msg)
    if rid != ident or not flags & 0x8000:
        raise ValueError("not the answer to our question")
    rcode = flags & 0xF
    if rcode == 3:
        return [], None  # NXDOMAIN
    if rcode:
        raise ValueError(f"DNS error code {rcode}")
    pos = 12
    for _ in range(qd):
        pos = _name_end(msg, pos) + 4
    addrs: list[str] = []
    ttls: list[int] = []
    for _ in range(an):
        pos = _name_end(msg, pos)
        rtype, _cls, ttl, rdlen = struct.unpack_from("!HHIH", msg, pos)
        pos += 10
        rdata = msg[pos : pos + rdlen]
        pos += rdlen
        if rtype == qtype == TYPE_A and rdlen == 4:
            addrs.append(socket.inet_ntop(socket.AF_INET, rdata))
            ttls.append(ttl)
        elif rtype == qtype == TYPE_AAAA and rdlen == 16:
            addrs.append(socket.inet_ntop(socket.AF_INET6, rdata))
            ttls.append(ttl)
        elif rtype == TYPE_CNAME:
            ttls.append(ttl)
    return addrs, (min(ttls) if addrs and ttls else None)


def query(name: str, qtype: int, server: str, timeout: float) -> tuple[list[str], int | None]:
    """One UDP question to one server, one bounded wait for its answer."""
    ident = secrets.randbits(16)
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    deadline = time.monotonic() + timeout
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((server, DNS_PORT))
        sock.send(build_query(name, qtype, ident))
        for _ in range(16):  # answers to other questions are skipped, a bounded number
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            msg = sock.recv(4096)
            if len(msg) >= 2 and struct.unpack_from("!H", msg)[0] != ident:
                continue
            return parse_answer(msg, ident, qtype)
    raise TimeoutError("no answer in time")
