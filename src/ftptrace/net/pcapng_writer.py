"""Minimal streaming pcapng writer (stdlib only): the one encoder of pcapng blocks.

Apart from the reader (`net.pcap`) because the two share nothing but the format's block
types: the reader must accept every variant the format allows, the writer produces exactly
one (draft-ietf-opsawg-pcapng: a section header block §4.1 in little-endian order, an
interface description block §4.2 per declared interface, enhanced packet blocks §4.3 with
optional comments §3.5). Live captures (`PcapngWriter`) and annotated copies
(`render.pcapng`) both write through `PcapngStream`.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from typing import BinaryIO

from ftptrace.errors import CaptureError

BT_SHB = 0x0A0D0D0A
BT_IDB = 1
BT_EPB = 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_ENDOFOPT, OPT_COMMENT, SHB_USERAPPL, IF_NAME, IF_TSRESOL = 0, 1, 4, 2, 9


def ng_option(code: int, value: bytes = b"") -> bytes:
    """One option: code, length, value padded to 32 bits (pcapng §3.5)."""
    return struct.pack("<HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def ng_block(btype: int, body: bytes) -> bytes:
    """One block: type, total length, body, total length again (pcapng §3.1)."""
    n = len(body) + 12
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


class PcapngStream:
    """Writes one pcapng section to an open binary stream."""

    def __init__(self, stream: BinaryIO, application: str) -> None:
        self.stream = stream
        opts = ng_option(SHB_USERAPPL, application.encode()) + ng_option(OPT_ENDOFOPT)
        stream.write(ng_block(BT_SHB, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + opts))
        self._count = 0

    def add_interface(
        self, linktype: int, *, name: str = "", snaplen: int = 0, tsresol: int | None = None
    ) -> int:
        """Declare an interface (`tsresol`: if_tsresol byte; None = microseconds); its id."""
        opts = ng_option(IF_NAME, name.encode()) if name else b""
        if tsresol is not None:
            opts += ng_option(IF_TSRESOL, bytes([tsresol]))
        if opts:
            opts += ng_option(OPT_ENDOFOPT)
        self.stream.write(ng_block(BT_IDB, struct.pack("<HHI", linktype, 0, snaplen) + opts))
        self._count += 1
        return self._count - 1

    def packet(
        self,
        iface: int,
        ticks: int,
        data: bytes,
        orig_len: int | None = None,
        comments: Iterable[str] = (),
    ) -> None:
        """One enhanced packet block; `ticks` in the interface's time resolution."""
        head = struct.pack(
            "<IIIII",
            iface,
            ticks >> 32,
            ticks & 0xFFFFFFFF,
            len(data),
            len(data) if orig_len is None else orig_len,
        )
        opts = b"".join(ng_option(OPT_COMMENT, c.encode()) for c in comments)
        if opts:
            opts += ng_option(OPT_ENDOFOPT)
        self.stream.write(ng_block(BT_EPB, head + data + b"\x00" * (-len(data) % 4) + opts))


class PcapngWriter:
    """A live capture saved while it runs: one section, one interface block per link type.

    pcapng rather than classic pcap because a live capture on several interfaces can mix
    link types (Ethernet, raw IP tunnels), which only pcapng can hold (pcapng §4.2).
    Timestamps are written in nanoseconds (`if_tsresol` = 9).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.name = os.fsdecode(path)
        try:
            self._fh: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise CaptureError(f"cannot write capture {self.name}: {exc.strerror}") from exc
        self._ng = PcapngStream(self._fh, "ftptrace")

    def add_interface(self, linktype: int, name: str = "", snaplen: int = 0) -> int:
        """Declare an interface; returns its id for `write`."""
        return self._ng.add_interface(linktype, name=name, snaplen=snaplen, tsresol=9)

    def write(self, iface: int, ts_ns: int, data: bytes, orig_len: int | None = None) -> None:
        self._ng.packet(iface, ts_ns, data, orig_len)

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
