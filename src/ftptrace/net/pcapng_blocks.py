"""Byte-order structs and interface options of pcapng blocks (draft-ietf-opsawg-pcapng)."""

from __future__ import annotations

import struct


class NgStructs:
    """Precompiled structs for one byte order (a pcapng section may use either)."""

    def __init__(self, order: str) -> None:
        self.u16 = struct.Struct(order + "H").unpack_from
        self.u32 = struct.Struct(order + "I").unpack_from
        self.i64 = struct.Struct(order + "q").unpack_from
        self.opt = struct.Struct(order + "HH").unpack_from
        self.epb = struct.Struct(order + "IIIII").unpack_from
        self.pb = struct.Struct(order + "HHIIII").unpack_from


NG = {"<": NgStructs("<"), ">": NgStructs(">")}


def idb_options(s: NgStructs, buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Ticks per second (`if_tsresol`, code 9) and `if_tsoffset` (code 14), pcapng §4.2."""
    tps = 1_000_000
    offset = 0
    while pos + 4 <= end:
        code, length = s.opt(buf, pos)
        if code == 0 or pos + 4 + length > end:  # an option running past its block: corrupt
            break
        value = buf[pos + 4 : pos + 4 + length]
        if code == 9 and length >= 1:
            res = value[0]
            exp = res & 0x7F
            if exp <= 64:  # beyond that the value is nonsense: keep microseconds
                tps = 2**exp if res & 0x80 else 10**exp
        elif code == 14 and length >= 8:
            offset = s.i64(value, 0)[0]
        pos += 4 + ((length + 3) & ~3)
    return tps, offset
