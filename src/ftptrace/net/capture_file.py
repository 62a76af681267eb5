"""Opening a capture file safely, and reading it plain or gzip-compressed.

Only regular files are opened (a FIFO would block the open, a device cannot be re-read),
and gzip is decompressed by hand so a truncated `.gz` still yields what it holds.
"""

from __future__ import annotations

import os
import stat
import zlib
from typing import BinaryIO

from ftptrace.errors import CaptureError

GZIP_MAGIC = b"\x1f\x8b"
RAW_CHUNK = 1 << 20
"""Compressed bytes read per refill."""


class Gunzip:
    """Streaming gunzip with `read(n)` that is short only at the end.

    zlib by hand instead of `gzip.GzipFile`: a truncated `.gz` then yields every byte that
    can be decompressed instead of raising and losing the last buffer, and output per call
    is bounded (no memory blow-up from a small, highly compressed file).
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._z = zlib.decompressobj(wbits=31)
        self._pending = b""
        self.problem: str | None = None
        self._done = False

    def read(self, n: int) -> bytes:
        out: list[bytes] = []
        have = 0
        while have < n and not self._done:
            if not self._pending:
                self._pending = self._raw.read(RAW_CHUNK)
                if not self._pending:
                    if not self._z.eof:
                        self.problem = "compressed stream ends early (truncated .gz file)"
                    self._done = True
                    break
            if self._z.eof:
                if not self._pending.strip(b"\x00"):  # zero padding after the last member
                    self._pending = b""
                    continue
                self._z = zlib.decompressobj(wbits=31)  # RFC 1952 §2.2: several members
            try:
                piece = self._z.decompress(self._pending, n - have)
            except zlib.error as exc:
                self.problem = f"compressed stream is corrupt ({exc})"
                self._done = True
                break
            self._pending = self._z.unused_data if self._z.eof else self._z.unconsumed_tail
            if piece:
                out.append(piece)
                have += len(piece)
        return b"".join(out)

    def close(self) -> None:
        self._raw.close()


class PlainFile:
    """A plain file with the same `read(n)` contract as `Gunzip`."""

    problem: str | None = None

    def __init__(self, raw: BinaryIO, limit: int | None = None) -> None:
        self._raw = raw
        self._left = limit
        """Bytes still allowed from here (None: to the end of the file)."""

    @property
    def raw(self) -> BinaryIO:
        return self._raw

    def read(self, n: int) -> bytes:
        if self._left is not None:
            n = min(n, self._left)
            if n <= 0:
                return b""
            got = self._read(n)
            self._left -= len(got)
            return got
        return self._read(n)

    def _read(self, n: int) -> bytes:
        first = self._raw.read(n)
        if len(first) >= n or not first:
            return first
        parts = [first]
        have = len(first)
        while have < n:
            more = self._raw.read(n - have)
            if not more:
                break
            parts.append(more)
            have += len(more)
        return b"".join(parts)

    def close(self) -> None:
        self._raw.close()


def open_regular(path: str | os.PathLike[str], name: str) -> BinaryIO:
    """Open `path` for reading only if it is a regular file.

    Non-blocking open: a plain `open()` of a FIFO with no writer blocks forever, and
    pipes or devices cannot `seek(0)` after the gzip sniff anyway, so they are refused.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise CaptureError(f"cannot open capture {name}: {exc.strerror}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode):
            os.set_blocking(fd, True)
            return open(fd, "rb")  # closed by the caller
        problem = "is a directory" if stat.S_ISDIR(mode) else "is not a regular file"
    except OSError as exc:
        os.close(fd)
        raise CaptureError(f"cannot open capture {name}: {exc.strerror}") from exc
    os.close(fd)
    raise CaptureError(f"cannot open capture {name}: {problem}")
