"""Minimal streaming pcapng writer (stdlib only), for live captures saved while they run.

Apart from the reader (`net.pcap`) because the two share nothing but the format's block
types: the reader must accept every variant the format allows, the writer produces exactly
one (draft-ietf-opsawg-pcapng: a section header block §4.1 in little-endian order, an
interface description block §4.2 per declared interface, enhanced packet blocks §4.3).
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

from ftptrace.errors import CaptureError

_BT_SHB = 0x0A0D0D0A
_BT_IDB = 1
_BT_EPB = 6


class PcapngWriter:
    """Minimal streaming pcapng writer: one section, one interface block per link type.

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
        self._count = 0
        appl = _ng_option(4, b"ftptrace")  # shb_userappl
        self._block(_BT_SHB, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + appl + _ng_option(0))

    def add_interface(self, linktype: int, name: str = "", snaplen: int = 0) -> int:
        """Declare an interface; returns its id for `write`."""
        opts = _ng_option(2, name.encode()) if name else b""
        opts += _ng_option(9, b"\x09") + _ng_option(0)
        self._block(_BT_IDB, struct.pack("<HHI", linktype, 0, snaplen) + opts)
        self._count += 1
        return self._count - 1

    def write(self, iface: int, ts_ns: int, data: bytes, orig_len: int | None = None) -> None:
        head = struct.pack(
            "<IIIII",
            iface,
            ts_ns >> 32,
            ts_ns & 0xFFFFFFFF,
            len(data),
            len(data) if orig_len is None else orig_len,
        )
        self._block(_BT_EPB, head + data + b"\x00" * (-len(data) % 4))

    def _block(self, btype: int, body: bytes) -> None:
        n = len(body) + 12
        self._fh.write(struct.pack("<II", btype, n) + body + struct.pack("<I", n))

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def _ng_option(code: int, value: bytes = b"") -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)
