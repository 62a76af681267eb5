"""Small captures for the robustness tests, written with `wire` (not with ftptrace's code).

`tiny_pcap` is the capture that is cut at every offset: a greeting, a login, a PASV whose
227 names a private address, and an unanswered data SYN (about 700 bytes). `to_pcapng`
re-frames the same packets as pcapng (SHB, IDB, one EPB per packet) by hand.
"""

from __future__ import annotations

import struct
from pathlib import Path

from wire import Ftp, Wire, ep, raw_ip, write_pcap

PCAP_HEADER = 24
RECORD_HEADER = 16
PASSWORD = "Hunter2-Secret!"


def tiny_wire() -> Wire:
    w = Wire(hops={"198.51.100.2": 4})
    ftp = Ftp(w, "203.0.113.10:40000", "198.51.100.2:21")
    ftp.login("bob", PASSWORD)
    ftp.cmd("PASV", "227 Entering Passive Mode (192,168,1,2,195,80).")
    w.syn(ep("203.0.113.10:40001"), ep("192.168.1.2:50000"))
    return w


def tiny_pcap(path: Path) -> Path:
    write_pcap(tiny_wire().packets, str(path))
    return path


def record_offsets(data: bytes) -> list[int]:
    """Where each classic-pcap record starts (little-endian, as `wire` writes)."""
    out, pos = [], PCAP_HEADER
    while pos + RECORD_HEADER <= len(data):
        out.append(pos)
        pos += RECORD_HEADER + struct.unpack_from("<I", data, pos + 8)[0]
    return out


def _block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def shb() -> bytes:
    return _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(linktype: int = 101, options: bytes = b"") -> bytes:
    return _block(1, struct.pack("<HHI", linktype, 0, 0) + options)


def epb(ts_us: int, data: bytes) -> bytes:
    head = struct.pack("<IIIII", 0, ts_us >> 32, ts_us & 0xFFFFFFFF, len(data), len(data))
    return _block(6, head + data)


def to_pcapng(w: Wire) -> list[bytes]:
    """The packets of `w` as pcapng blocks (raw IP link type), one list item per block."""
    return [shb(), idb()] + [epb(int(p.ts * 1e6), raw_ip(p)) for p in w.packets]


def _ones_sum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def with_tcp_checksums(path: Path) -> Path:
    """Fill in the TCP checksums (RFC 9293 §3.1) of a raw-IPv4 pcap `wire` wrote (as 0)."""
    data = bytearray(path.read_bytes())
    for rec in record_offsets(bytes(data)):
        ip = rec + RECORD_HEADER
        if data[ip] >> 4 != 4 or data[ip + 9] != 6:
            continue
        ihl = (data[ip] & 0x0F) * 4
        total = struct.unpack_from("!H", data, ip + 2)[0]
        tcp = ip + ihl
        struct.pack_into("!H", data, tcp + 16, 0)
        pseudo = bytes(data[ip + 12 : ip + 20]) + struct.pack("!BBH", 0, 6, total - ihl)
        check = ~_ones_sum(pseudo + bytes(data[tcp : ip + total])) & 0xFFFF
        struct.pack_into("!H", data, tcp + 16, check)
    path.write_bytes(bytes(data))
    return path
