"""The reader's prefilter may only drop frames that decode() would drop anyway."""

from __future__ import annotations

import struct
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ftptrace.net.decode import decode, port_prefilter
from ftptrace.net.pcap import open_capture

ROOT = Path(__file__).resolve().parents[2]


def test_never_drops_what_decode_keeps_on_real_captures() -> None:
    ports = {21}
    keep = port_prefilter(ports)
    dropped = kept = 0
    for cap in sorted((ROOT / "captures").rglob("*.pcap")):
        with open_capture(cap) as reader:
            for frame, ts, lt, data, _o, _i in reader:
                if keep(lt, data, 0, len(data)):
                    kept += 1
                else:
                    dropped += 1
                    assert decode(lt, data, ts, frame, ports) is None, (cap, frame)
    assert kept and dropped  # both branches exercised (data segments off port 21)


def eth_ipv4(proto: int, payload: bytes) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
                     bytes([203, 0, 113, 10]), bytes([198, 51, 100, 2]))
    return b"\x00" * 12 + b"\x08\x00" + ip + payload


@given(
    sport=st.integers(0, 65535),
    dport=st.integers(0, 65535),
    flags=st.integers(0, 255),
    proto=st.sampled_from([6, 17, 1, 47]),
    body=st.binary(max_size=40),
    ports=st.sets(st.integers(0, 65535), max_size=5),
)
@settings(max_examples=400, deadline=None)
def test_never_drops_what_decode_keeps(
    sport: int, dport: int, flags: int, proto: int, body: bytes, ports: set[int]
) -> None:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 2, 5 << 4, flags, 1000, 0, 0) + body
    frame = eth_ipv4(proto, tcp)
    if not port_prefilter(ports)(1, frame, 0, len(frame)):
        assert decode(1, frame, 0.0, 1, ports) is None


def test_keeps_syn_and_announced_ports_drops_bulk_and_udp() -> None:
    ports = {21, 50000}
    keep = port_prefilter(ports)

    def tcp(sport: int, dport: int, flags: int) -> bytes:
        return eth_ipv4(6, struct.pack("!HHIIBBHHH", sport, dport, 1, 2, 0x50, flags, 1, 0, 0))

    assert keep(1, tcp(40000, 443, 0x02), 0, 54)  # SYN: always
    assert not keep(1, tcp(40000, 443, 0x18), 0, 54)  # HTTPS data: dropped
    assert keep(1, tcp(40000, 50000, 0x18), 0, 54)  # announced data port: kept
    udp = eth_ipv4(17, b"\x00" * 16)
    assert not keep(1, udp, 0, len(udp))
