"""Classic pcap records found a buffer at a time (draft-ietf-opsawg-pcap §5).

The one loop of a replay that must touch every record, bulk included: it only reads each
16-byte record header's captured length, so that a prefilter (`net.prefilter`) can then
judge the whole buffer at once. Used in process (`net.pcap`) and by the helper process
(`net.indexer`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any, Protocol

MAX_RECORD = 1 << 24
"""Larger records or blocks are taken as corruption: real link layers stay below 256 KiB."""


class BatchKeep(Protocol):
    """A prefilter that judges many records at once (`net.prefilter.PortPrefilter`)."""

    def pick_rows(self, rows: Any) -> Iterator[Any]:
        """The kept rows of a `net.frame_batch.describe` record array, re-judged as the
        consumer adds ports."""
        ...


class PcapWalk:
    """The records of a classic pcap body (after its 24-byte header), a buffer at a time.

    Iterating yields (buf, base, heads, last_end): `buf` holds whole records whose 16-byte
    headers start at the offsets `heads` (buf[0] is at file offset `base`), and the last
    of them ends at `last_end`. The loop over `heads` is the only per-record Python work;
    callers then judge all the buffer's records at once. At the end `tail` says why the
    file's last bytes were not a record (a damaged tail), or is None.
    """

    def __init__(
        self, read: Callable[[int], bytes], order: str, base: int = 24, chunk: int = 1 << 20
    ) -> None:
        self._chunk = chunk
        self._read = read
        self._length = struct.Struct(order + "I").unpack_from
        self.base = base
        self.tail: str | None = None

    def __iter__(self) -> Iterator[tuple[bytes, int, list[int], int]]:
        length = self._length
        read = self._read
        buf = b""
        pos = 0
        base = self.base
        want = chunk = self._chunk
        while True:
            more = read(want)
            base += pos
            buf = buf[pos:] + more if pos < len(buf) else more
            pos = 0
            size = len(buf)
            heads: list[int] = []
            add = heads.append
            incl = 0
            try:
                while True:  # the hot loop: a struct error ends it at the buffer's end
                    incl = length(buf, pos + 8)[0]
                    end = pos + 16 + incl
                    if end > size:
                        break
                    add(pos)
                    pos = end
            except struct.error:
                pass
            if heads:
                yield buf, base, heads, pos
            left = size - pos
            if not more:  # end of file: what is left is a damaged tail
                if left and left < 16:
                    self.tail = f"partial record header ({left} of 16 bytes)"
                elif left and incl > MAX_RECORD:
                    self.tail = f"record length {incl} is not plausible"
                elif left:
                    self.tail = f"partial record ({left - 16} of {incl} bytes)"
                return
            if left >= 16 and incl > MAX_RECORD:
                self.tail = f"record length {incl} is not plausible"
                return
            want = max(chunk, 16 + incl - left) if left >= 16 else chunk
