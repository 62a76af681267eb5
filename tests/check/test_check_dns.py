"""The dynamic-DNS step's resolver: hosts file, stub queries with TTLs, answers parsed by
hand. The only DNS server ever asked is a stub on loopback started by the test."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ftptrace.check import dns


def answer(query: bytes, records: list[tuple[int, int, bytes]], rcode: int = 0) -> bytes:
    """A response to `query` with (type, ttl, rdata) records; names compressed to the
    question (offset 12), as real servers do (RFC 1035 §4.1.4)."""
    ident = struct.unpack_from("!H", query)[0]
    question = query[12:]
    out = struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, len(records), 0, 0) + question
    for rtype, ttl, rdata in records:
        out += struct.pack("!HHHIH", 0xC00C, rtype, 1, ttl, len(rdata)) + rdata
    return out


def test_query_and_answer_round_trip() -> None:
    q = dns.build_query("ftp.example.test", dns.TYPE_A, 0x1234)
    assert q[:2] == b"\x12\x34" and b"\x03ftp\x07example\x04test\x00" in q
    cname = b"\x03www\xc0\x0c"
    msg = answer(q, [(dns.TYPE_CNAME, 600, cname),
                     (dns.TYPE_A, 120, socket.inet_aton("198.51.100.2"))])
    addrs, ttl = dns.parse_answer(msg, 0x1234, dns.TYPE_A)
    assert addrs == ["198.51.100.2"] and ttl == 120
    assert dns.parse_answer(answer(q, [], rcode=3), 0x1234, dns.TYPE_A) == ([], None)
    with pytest.raises(ValueError):
        dns.parse_answer(msg, 0x9999, dns.TYPE_A)
    with pytest.raises(ValueError):
        dns.build_query("a" * 64 + ".test", dns.TYPE_A, 1)


def test_hosts_file_and_resolv_conf(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n# old\n198.51.100.9  ftp.example.test ftp\n")
    conf = tmp_path / "resolv.conf"
    conf.write_text("search lab\nnameserver 127.0.0.1\nnameserver fe80::1%eth0\noptions x\n")
    assert dns.from_hosts("FTP.example.test", hosts) == ("198.51.100.9",)
    assert dns.nameservers(conf) == ["127.0.0.1", "fe80::1"]
    r = dns.resolve("ftp.example.test", 1.0, hosts=hosts, resolv_conf=conf)
    assert r.addresses == ("198.51.100.9",) and r.ttl is None and "hosts file" in r.source


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """A DNS server on 127.0.0.1 that knows ftp.example.test (A, TTL 7200)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    monkeypatch.setattr(dns, "DNS_PORT", sock.getsockname()[1])
    seen: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                q, peer = sock.recvfrom(512)
            except TimeoutError:
                continue
            seen.append(q)
            qtype = struct.unpack_from("!H", q, len(q) - 4)[0]
            recs = [(dns.TYPE_A, 7200, socket.inet_aton("203.0.113.5"))] if qtype == 1 else []
            sock.sendto(answer(q, recs), peer)

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        yield seen
    finally:
        stop.set()
        th.join(timeout=2)
        sock.close()


def test_stub_query_reports_the_ttl(stub: list[bytes], tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.1\n")
    r = dns.resolve("ftp.example.test", 2.0, hosts=tmp_path / "none", resolv_conf=conf)
    assert r.addresses == ("203.0.113.5",) and r.ttl == 7200
    assert r.source == "DNS server 127.0.0.1"
    assert len(stub) == 2, "one A and one AAAA question"
