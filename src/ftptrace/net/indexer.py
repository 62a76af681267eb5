"""Index a large classic pcap in a helper process, so reading overlaps analysing.

Why: on the 2 M-packet bench (bench/README.md) a third of a replay's time is spent reading
the file and walking its records — the one loop that must touch every record, bulk
included — before a single kept frame is decoded. That work does not depend on the
analysis, except for the live port set, so a second process can do it while the main
process decodes and builds the trace: the helper reads the file, finds every record and
describes it (`net.frame_batch.describe`: the prefilter's verdict — dropped, kept, or kept
if a port is in the set — and the header fields the fast path reads); the main process
maps the file, applies the live port set (`PortPrefilter.pick_rows`) and slices only what
it needs of the frames it keeps. Same frames, numbers and warnings as the in-process
reader; used only for plain (not gzip) classic pcap files of HELPER_MIN_BYTES or more.

Messages, helper → parent on the helper's stdout (little-endian):

* ``C`` base:int64 count:int32 sent:int32: `count` records were walked in a buffer
  read at file offset `base`; then `sent` rows of `net.frame_batch.ROW` (packed,
  little-endian), one per record the prefilter does not drop whatever the ports: its
  frame number, file offset, header fields, prefilter kind and ports, and the TCP fields
  the fast path reads;
* ``E`` length:int32 text: the end; text is the damaged-tail note, or empty;
* ``X`` length:int32 text: the helper failed (the parent raises CaptureError).
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any, Protocol

from ftptrace.errors import CaptureError
from ftptrace.net.pcap import HELPER_MIN_BYTES as _PCAP_MIN

if TYPE_CHECKING:
    from ftptrace.net.frame_batch import FrameBatch

HELPER_MIN_BYTES = _PCAP_MIN
"""Smaller files are read in process: starting a helper (an interpreter and numpy) costs
more than it saves below a few tens of megabytes."""

_CHUNK_HEAD = struct.Struct("<qii")
_LEN = struct.Struct("<i")
_RELEASE_BYTES = 4 << 20
_PIPE_BYTES = 1 << 20


class HelperUnavailable(CaptureError):
    """The helper ended before indexing anything (it could not start: no interpreter, no
    numpy...): nothing was read yet, so the reader falls back to reading in process."""


class Picker(Protocol):
    """What the parent needs from the prefilter (`net.prefilter.PortPrefilter.pick_rows`)."""

    def pick_rows(self, rows: Any) -> Iterator[Any]: ...


def worth_a_helper(size: int, min_bytes: int = HELPER_MIN_BYTES) -> bool:
    """A helper pays off for a big file on a machine with a second core."""
    return size >= min_bytes and (os.cpu_count() or 1) >= 2


class IndexedPcap:
    """The parent side: frames of one plain classic pcap, indexed by a helper process.

    Iterate `frames()` once; `packets` counts the records indexed so far and `tail`
    holds the damaged-tail note at the end. `close()` (also on garbage collection of the
    generator) stops the helper and unmaps the file.
    """

    def __init__(
        self, raw: IO[bytes], path: str, order: str, linktype: int, units: int = 1_000_000
    ) -> None:
        self.packets = 0
        self.tail: str | None = None
        self.on_end: Callable[[str | None, int], None] | None = None
        """Called once at the end of the file with (damaged-tail note, frames read)."""
        self._size = os.fstat(raw.fileno()).st_size
        self._map = mmap.mmap(raw.fileno(), self._size, access=mmap.ACCESS_READ)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "ftptrace.net.indexer", path, order,
                 str(linktype), str(self._size), str(units)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except BaseException:
            self._map.close()
            raise
        self._order = order
        self._widen_pipe()

    def _widen_pipe(self) -> None:
        """Let the helper run up to about a megabyte of rows ahead.

        A pipe holds 64 KiB by default, less than one buffer's rows: the helper then waits
        for this process after every buffer and cannot make up for the buffers that are
        slow to analyse (those where sessions end) during the quick ones. Linux lets a
        pipe grow to /proc/sys/fs/pipe-max-size (1 MiB by default); elsewhere, or if
        refused, the default stays."""
        setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
        pipe = self._proc.stdout
        if setsize is None or pipe is None:
            return
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe.fileno(), setsize, _PIPE_BYTES)

    def batches(self, picker: Picker, linktype: int) -> Iterator[FrameBatch]:
        """One `FrameBatch` per buffer the helper described: its kept rows, sliced from
        the mapped file. `packets` counts a buffer's records once its rows are consumed."""
        import numpy as np

        from ftptrace.net.frame_batch import FrameBatch, row_dtype

        dtype = row_dtype()
        data = self._map
        pipe = self._proc.stdout
        assert pipe is not None
        n = 0
        done = 0  # the file's pages before this offset were handed back
        try:
            while True:
                tag = pipe.read(1)
                if tag == b"C":
                    base, count, sent = _CHUNK_HEAD.unpack(_exact(pipe, _CHUNK_HEAD.size))
                    rows = np.frombuffer(_exact(pipe, sent * dtype.itemsize), dtype=dtype)
                    done = self._release(done, base)  # records before `base` are handled
                    n += count
                    yield FrameBatch(data, linktype, picker.pick_rows(rows), n)
                    self.packets = n
                elif tag in (b"E", b"X"):
                    (size,) = _LEN.unpack(_exact(pipe, _LEN.size))
                    text = _exact(pipe, size).decode("utf-8", "replace")
                    if tag == b"X":
                        raise CaptureError(f"reading the capture failed in the helper: {text}")
                    self.tail = text or None
                    if self.on_end is not None:
                        self.on_end(self.tail, n)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self._proc.wait(timeout=2)  # it is exiting: let it, rather than kill
                    return
                elif not tag and not n:
                    raise HelperUnavailable("the capture indexing helper did not start")
                else:
                    raise CaptureError("the capture indexing helper stopped unexpectedly")
        finally:
            self.close()

    def _release(self, done: int, upto: int) -> int:
        """Unmap the pages of records already handled: they would otherwise count in
        this process's resident memory until the end (the page cache keeps them; they
        are not copied). Returns the new `done` offset."""
        upto -= upto % mmap.PAGESIZE
        if upto - done >= _RELEASE_BYTES:
            self._map.madvise(mmap.MADV_DONTNEED, done, upto - done)
            return upto
        return done

    def close(self) -> None:
        proc = self._proc
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):  # a killed process exits
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        if not self._map.closed:
            self._map.close()


def _exact(pipe: IO[bytes], size: int) -> bytes:
    got = pipe.read(size)
    if len(got) != size:
        raise CaptureError("the capture indexing helper stopped unexpectedly")
    return got


# -- the helper process ---------------------------------------------------------------------


def _index(
    path: str, order: str, linktype: int, size: int, out: IO[bytes], units: int = 1_000_000
) -> None:
    from ftptrace.net.capture_file import PlainFile
    from ftptrace.net.frame_batch import describe
    from ftptrace.net.pcap_walk import PcapWalk

    with open(path, "rb") as fh:
        fh.seek(24)
        # Never past the size the parent mapped: the file may grow while we read.
        read = PlainFile(fh, limit=size - 24).read

        walk = PcapWalk(read, order)
        n = 0
        for buf, base, heads, last_end in walk:
            rows = describe(
                linktype, buf, heads, last_end, order=order, units=units, first=n, shift=base
            )
            n += len(heads)
            rows = rows[rows["kind"] != 0]  # dropped whatever the ports: not worth sending
            out.write(b"C" + _CHUNK_HEAD.pack(base, len(heads), len(rows)))
            out.write(rows.tobytes())  # ROW spells out little-endian fields
        tail = (walk.tail or "").encode()
        out.write(b"E" + _LEN.pack(len(tail)) + tail)
        out.flush()


def main(argv: list[str]) -> int:
    out = sys.stdout.buffer
    try:
        path, order, linktype, size, units = argv
        _index(path, order, int(linktype), int(size), out, int(units))
    except BrokenPipeError:
        return 0  # the parent stopped reading: nothing to say
    except Exception as exc:  # reported to the parent, which raises CaptureError
        text = f"{type(exc).__name__}: {exc}".encode()
        try:
            out.write(b"X" + _LEN.pack(len(text)) + text)
            out.flush()
        except OSError:
            pass
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
