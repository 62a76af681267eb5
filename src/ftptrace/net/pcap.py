"""Streaming reader for pcap and pcapng captures, plain or gzip-compressed (stdlib only).

Why not scapy: its reader builds a dissected object per packet (a few thousand packets/s);
a replay of millions of packets needs raw bytes and a link type, nothing more. The reader
keeps one buffer of about a megabyte and slices records out of it with precompiled
structs, so memory stays flat however big the file is.

Formats: classic pcap (both byte orders, micro- and nanosecond magics; see
draft-ietf-opsawg-pcap §4–§5) and pcapng (draft-ietf-opsawg-pcapng: several sections with
either byte order §4.1, several interfaces with their own link type and `if_tsresol`
§4.2, enhanced §4.3, simple §4.4 and the obsolete packet block Appendix A; all other blocks
are skipped). A damaged tail is not an error: reading stops there and `warnings` says why,
so an analysis of a capture cut short by Ctrl-C still shows what was captured.

The writer for live captures is `net.pcapng_writer.PcapngWriter` (importable from here too).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, NamedTuple

from ftptrace.errors import CaptureError
from ftptrace.net.capture_file import GZIP_MAGIC, Gunzip, PlainFile, open_regular
from ftptrace.net.pcap_walk import MAX_RECORD as MAX_RECORD  # re-exported
from ftptrace.net.pcap_walk import BatchKeep as BatchKeep  # re-exported
from ftptrace.net.pcap_walk import PcapWalk as PcapWalk  # re-exported
from ftptrace.net.pcapng_blocks import NG, idb_options
from ftptrace.net.pcapng_writer import PcapngWriter as PcapngWriter  # re-exported

if TYPE_CHECKING:
    from ftptrace.net.frame_batch import FrameBatch
    from ftptrace.net.indexer import IndexedPcap

HELPER_MIN_BYTES = 64 << 20
"""Default smallest plain pcap indexed by a helper process (see `net.indexer`)."""

CHUNK = 1 << 20
"""Bytes read (after decompression) per refill of the buffer."""

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000),
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000),
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000),
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_BOM = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}

_BT_SHB = 0x0A0D0D0A
_BT_IDB = 1
_BT_PB = 2
_BT_SPB = 3
_BT_EPB = 6


class RawFrame(NamedTuple):
    """One captured frame: bytes as captured (maybe cut at the snap length) and its link type."""

    frame: int
    ts: float
    linktype: int
    data: bytes
    orig_len: int
    iface: int


_new_frame = tuple.__new__


class CaptureReader:
    """Iterator of `RawFrame`s from one capture file; use as a context manager.

    The file header is checked when the reader is created (so a wrong file fails before any
    work starts); records are read lazily while iterating.
    """

    def __init__(self, path: str | os.PathLike[str], *, start_helper: bool = False) -> None:
        """`start_helper`: start the indexing helper now if this file would use one, rather
        than at the first batch, for a caller with other work to do meanwhile; it is
        stopped by `close()` if the file ends up read otherwise."""
        self.name = os.fsdecode(path)
        self.warnings: list[str] = []
        self._packets = 0
        self._indexed: IndexedPcap | None = None
        self.format = ""
        self.keep: Callable[[int, bytes, int, int], bool] | None = None
        """Optional prefilter, set before iterating: keep(linktype, buf, start, end) sees a
        frame's bytes in place and returns False to skip it before any object is built
        (frame numbers still count it). See `net.decode.port_prefilter`."""
        self.keep_batch: BatchKeep | None = None
        """Optional batch form of `keep` for classic pcap, set before iterating: its
        `pick_rows(rows)` yields the records to keep of a buffer described by
        `net.frame_batch.describe`, in order, and may look at state the consumer changes
        between two frames. See `net.prefilter.PortPrefilter`. A large plain file is then
        described by a helper process (`net.indexer`) when the machine has a second core,
        and `batches()` hands the buffers over whole."""
        self.helper_min_bytes = HELPER_MIN_BYTES
        """Smallest plain pcap indexed by a helper process (tests lower it)."""
        raw = open_regular(path, self.name)
        try:
            head = raw.read(2)
            raw.seek(0)
        except OSError as exc:
            raw.close()
            raise CaptureError(f"cannot read capture {self.name}: {exc.strerror}") from exc
        self._gz = head == GZIP_MAGIC
        self._stream: Gunzip | PlainFile = Gunzip(raw) if self._gz else PlainFile(raw)
        try:
            self._frames: Iterator[RawFrame] | None = None
            self._batches: Iterator[FrameBatch] | None = None
            self._pcap_args: tuple[str, int, int] | None = None
            self._early: IndexedPcap | None = None
            self._open = self._start()
            if start_helper and self._pcap_args is not None:
                order, units, linktype = self._pcap_args
                self._early = self._indexer(order, linktype, units)
        except BaseException:
            self._stream.close()
            raise

    # -- opening --------------------------------------------------------------------------

    def _fail(self, what: str) -> CaptureError:
        where = f"{self.name} (gzip)" if self._gz else self.name
        return CaptureError(f"{where}: {what}")

    def _start(self) -> Callable[[], Iterator[RawFrame]]:
        """Check the file header now; return what opens the frames at the first one."""
        start = self._stream.read(24)
        if self._stream.problem and len(start) < 4:
            raise self._fail(self._stream.problem)
        if not start:
            raise self._fail("empty file, not a capture")
        magic = start[:4]
        if magic in _PCAP_MAGICS:
            self.format = "pcap"
            if len(start) < 24:
                raise self._fail(f"truncated pcap global header ({len(start)} of 24 bytes)")
            order, units = _PCAP_MAGICS[magic]
            major = struct.unpack_from(order + "H", start, 4)[0]
            if major != 2:
                raise self._fail(f"unsupported pcap version {major}")
            network = struct.unpack_from(order + "I", start, 20)[0]
            self._pcap_args = (order, units, network & 0xFFFF)
            return lambda: self._pcap(order, units, network & 0xFFFF)
        if magic == _PCAPNG_SHB:
            self.format = "pcapng"
            if len(start) < 24:
                raise self._fail(f"truncated pcapng section header ({len(start)} bytes)")
            ng_order = _BOM.get(start[8:12])
            if ng_order is None:
                raise self._fail("pcapng section header has an invalid byte-order magic")
            blen, _bom, major = struct.unpack_from(ng_order + "IIH", start, 4)
            if major != 1:
                raise self._fail(f"unsupported pcapng version {major}")
            if blen < 28 or blen & 3 or blen > MAX_RECORD:
                raise self._fail(f"pcapng section header length {blen} is not plausible")
            start += self._stream.read(blen - 24)
            if len(start) < blen:
                raise self._fail(f"truncated pcapng section header ({len(start)} of {blen})")
            return lambda: self._pcapng(start)
        hint = "" if len(start) >= 4 else f" (only {len(start)} bytes)"
        raise self._fail(f"not a pcap or pcapng capture: magic 0x{magic.hex()}{hint}")

    # -- classic pcap ----------------------------------------------------------------------

    def _pcap(self, order: str, units: int, linktype: int) -> Iterator[RawFrame]:
        # Called at the first frame, after the caller has set `keep`/`keep_batch`.
        batch = self.keep_batch
        if batch is not None:
            return self._frames_of(self._pcap_batches(order, units, linktype, batch))
        return self._pcap_walked(order, units, linktype)

    def batches(self) -> Iterator[FrameBatch] | None:
        """The kept frames a buffer at a time (`net.frame_batch`), for a consumer that reads
        the described fields instead of slicing every frame (`fastpath.feed_batches`);
        None when this capture is not read that way (pcapng, no `keep_batch`): iterate the
        reader instead. Either way, not both: the frames are read once."""
        if self._pcap_args is None or self.keep_batch is None or self._frames is not None:
            return None
        self._frames = iter(())
        self._batches = self._pcap_batches(*self._pcap_args, self.keep_batch)
        return self._batches

    def _frames_of(self, batches: Iterator[FrameBatch]) -> Iterator[RawFrame]:
        """`RawFrame`s of the kept rows of `batches`."""
        for data, linktype, rows, _last in batches:
            for row in rows:
                frame, off, ts, incl, orig = row[:5]
                self._packets = frame  # read so far: up to this frame
                yield _new_frame(
                    RawFrame, (frame, ts, linktype, data[off + 16 : off + 16 + incl], orig, 0)
                )

    def _pcap_batches(
        self, order: str, units: int, linktype: int, keep: BatchKeep
    ) -> Iterator[FrameBatch]:
        """Classic pcap described a buffer at a time: by a helper process for a large
        plain file (`net.indexer`; started now, not at the first batch), else here."""
        indexed, self._early = self._early or self._indexer(order, linktype, units), None
        if indexed is not None:
            self._indexed = indexed
            indexed.on_end = self._indexed_end
        return self._described(indexed, order, units, linktype, keep)

    def _described(
        self, indexed: IndexedPcap | None, order: str, units: int, linktype: int, keep: BatchKeep
    ) -> Iterator[FrameBatch]:
        from ftptrace.net.frame_batch import FrameBatch, describe

        if indexed is not None:
            from ftptrace.net.indexer import HelperUnavailable

            described = indexed.batches(keep, linktype)
            try:  # the first batch tells whether the helper runs at all
                first = next(described)
            except StopIteration:
                return
            except HelperUnavailable:
                self._indexed = None  # nothing was read: read in process instead
                indexed.close()
            else:
                yield first
                self._packets = first.last
                for batch in described:
                    yield batch
                    self._packets = batch.last
                return
        # `PcapWalk` finds the records (the one loop that touches each), `describe` the rest.
        walk = PcapWalk(self._stream.read, order, chunk=CHUNK)
        n = 0
        for buf, _base, heads, last_end in walk:
            rows = describe(linktype, buf, heads, last_end, order=order, units=units, first=n)
            yield FrameBatch(buf, linktype, keep.pick_rows(rows), n + len(heads))
            n += len(heads)
            self._packets = n
        if walk.tail:
            self._warn_tail(walk.tail, n)
        self._note_stream()

    def _select_each(
        self, linktype: int, buf: bytes, starts: list[int], ends: list[int]
    ) -> Iterator[int]:
        """Without a batch prefilter: every record, or those the per-frame `keep` keeps
        (asked lazily, in order, so it sees what the consumer changed in between)."""
        keep = self.keep
        if keep is None:
            return iter(range(len(starts)))
        return (i for i in range(len(starts)) if keep(linktype, buf, starts[i], ends[i]))

    def _indexer(self, order: str, linktype: int, units: int) -> IndexedPcap | None:
        """A helper process indexing this file, when one pays off; None: read in process."""
        from ftptrace.net.indexer import IndexedPcap, worth_a_helper

        if not isinstance(self._stream, PlainFile):
            return None  # gzip: only a sequential read can decompress it
        raw = self._stream.raw
        try:
            if not worth_a_helper(os.fstat(raw.fileno()).st_size, self.helper_min_bytes):
                return None
            return IndexedPcap(raw, self.name, order, linktype, units)
        except (OSError, ValueError):
            return None  # no helper (no mmap, no process): the in-process reader will do

    def _indexed_end(self, tail: str | None, packets: int) -> None:
        if tail:
            self._warn_tail(tail, packets)
        self._note_stream()

    def _pcap_walked(self, order: str, units: int, linktype: int) -> Iterator[RawFrame]:
        """Classic pcap without a batch prefilter: `PcapWalk` finds every whole record
        (the one loop that must touch each record), the per-frame `keep` picks
        (`_select_each`), and only those are sliced."""
        select = self._select_each
        header = struct.Struct(order + "IIII").unpack_from
        walk = PcapWalk(self._stream.read, order, chunk=CHUNK)
        n = 0
        for buf, _base, heads, last_end in walk:
            starts = [h + 16 for h in heads]
            ends = [*heads[1:], last_end]
            first = n
            n += len(heads)
            for i in select(linktype, buf, starts, ends):
                head = heads[i]
                sec, frac, _incl, orig = header(buf, head)
                self._packets = first + i + 1  # read so far: up to this frame
                yield _new_frame(
                    RawFrame,
                    (first + i + 1, (sec * units + frac) / units, linktype,
                     buf[head + 16 : ends[i]], orig, 0),
                )
            self._packets = n
        if walk.tail:
            self._warn_tail(walk.tail, n)
        self._note_stream()

    # -- pcapng ------------------------------------------------------------------------------

    def _pcapng(self, start: bytes) -> Iterator[RawFrame]:
        read = self._stream.read
        keep = self.keep
        buf = start
        pos = 0
        n = 0
        order = _BOM[start[8:12]]
        s = NG[order]
        ifaces: list[tuple[int, int, int]] = []  # (linktype, ticks per second, offset s)
        last_ts = 0.0
        bad_iface = False
        while True:
            if len(buf) - pos < 12:
                buf = buf[pos:] + read(CHUNK)
                pos = 0
                if len(buf) < 12:
                    if buf:
                        self._warn_tail(f"partial block header ({len(buf)} bytes)", n)
                    break
            btype = s.u32(buf, pos)[0]
            if btype == _BT_SHB:
                bom = buf[pos + 8 : pos + 12]
                if bom not in _BOM:
                    self._warn_tail("section header with an invalid byte-order magic", n)
                    break
                order = _BOM[bom]
                s = NG[order]
                ifaces = []
            blen = s.u32(buf, pos + 4)[0]
            if blen < 12 or blen & 3 or blen > MAX_RECORD:
                self._warn_tail(f"block length {blen} is not plausible", n)
                break
            end = pos + blen
            if end > len(buf):
                buf = buf[pos:] + read(max(CHUNK, blen))
                pos = 0
                end = blen
                if end > len(buf):
                    self._warn_tail(f"partial block ({len(buf)} of {blen} bytes)", n)
                    break
            if s.u32(buf, end - 4)[0] != blen:
                self._warn_tail("block lengths at its start and end differ", n)
                break
            if btype in (_BT_EPB, _BT_PB):
                # Fixed fields need blen >= 32 (§4.3, Appendix A). A shorter block inside the
                # buffer fails the caplen check below (32 + caplen > blen); one at the very end
                # makes the unpack run off the buffer. `try` costs nothing per frame (3.11+).
                try:
                    if btype == _BT_EPB:
                        iface, hi, lo, caplen, orig = s.epb(buf, pos + 8)
                    else:
                        iface, _drops, hi, lo, caplen, orig = s.pb(buf, pos + 8)
                except struct.error:
                    self._warn_tail(f"packet block length {blen} is too short", n)
                    break
                if 32 + caplen > blen:
                    self._warn_tail("packet block shorter than its captured length", n)
                    break
                if iface >= len(ifaces):
                    if not bad_iface:
                        self.warnings.append(
                            f"{self.name}: packets for an undeclared interface {iface} skipped"
                        )
                        bad_iface = True
                    pos = end
                    continue
                linktype, tps, offset = ifaces[iface]
                last_ts = (hi << 32 | lo) / tps + offset if offset else (hi << 32 | lo) / tps
                n += 1
                self._packets = n
                if keep is not None and not keep(linktype, buf, pos + 28, pos + 28 + caplen):
                    pos = end
                    continue
                yield _new_frame(
                    RawFrame, (n, last_ts, linktype, buf[pos + 28 : pos + 28 + caplen], orig, iface)
                )
            elif btype == _BT_SPB:
                if not ifaces:
                    if not bad_iface:
                        self.warnings.append(
                            f"{self.name}: packets for an undeclared interface 0 skipped"
                        )
                        bad_iface = True
                    pos = end
                    continue
                orig = s.u32(buf, pos + 8)[0]
                caplen = min(orig, blen - 16)
                n += 1
                self._packets = n
                # A simple packet block has no timestamp (pcapng §4.4): keep time monotonic.
                yield _new_frame(
                    RawFrame,
                    (n, last_ts, ifaces[0][0], buf[pos + 12 : pos + 12 + caplen], orig, 0),
                )
            elif btype == _BT_IDB:
                if blen < 20:
                    self._warn_tail("interface description block too short", n)
                    break
                linktype = s.u16(buf, pos + 8)[0]
                tps, offset = idb_options(s, buf, pos + 16, end - 4)
                ifaces.append((linktype, tps, offset))
            pos = end
        self._note_stream()

    # -- common ----------------------------------------------------------------------------

    def _warn_tail(self, what: str, n: int) -> None:
        self.warnings.append(
            f"{self.name}: capture ends with a damaged tail after frame {n}: {what}"
        )

    def _note_stream(self) -> None:
        if self._stream.problem:
            self.warnings.append(f"{self.name}: {self._stream.problem}")

    @property
    def packets(self) -> int:
        """Frames read so far (kept or not)."""
        return self._packets

    def __iter__(self) -> Iterator[RawFrame]:
        if self._frames is None:
            self._frames = self._open()
        return self._frames

    def __next__(self) -> RawFrame:
        return next(iter(self))

    def close(self) -> None:
        for it in (self._frames, self._batches):
            close = getattr(it, "close", None)
            if close is not None:
                close()
        for indexed in (self._indexed, self._early):
            if indexed is not None:
                indexed.close()
        self._stream.close()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_capture(path: str | os.PathLike[str], *, start_helper: bool = False) -> CaptureReader:
    """Open a pcap/pcapng (optionally .gz) capture; raises CaptureError if it is not one."""
    return CaptureReader(path, start_helper=start_helper)
