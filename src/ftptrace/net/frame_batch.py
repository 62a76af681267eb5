"""A buffer of classic-pcap records described at once: what the replay's fast path reads.

Why: on the 2 M-packet bench (bench/README.md) the main process spent about a third of its
time handing kept frames over one by one — unpacking each record header and each
IPv4/TCP header with `struct`, slicing the whole frame, building a `RawFrame` — before the
trace builder did anything with them. numpy reads those fields for a whole buffer in a
few vectorised gathers (in the indexing helper process when there is one,
`net.indexer`), so the consumer gets, per kept record, one tuple of plain ints (`ROW`):
frame number, where the record sits, its time stamp, and for the usual frame — Ethernet,
IPv4 with a 20-byte header (RFC 791 §3.1), TCP (RFC 9293 §3.1) — flags, TTL, sequence
and acknowledgment numbers and where the payload is. `fastpath.feed_batches` routes most
frames with those alone; everything else is sliced and decoded as before.

The port prefilter's decision (`net.prefilter`) travels in the same rows (`kind`,
`sport`, `dport`), so which records are kept is decided exactly as before, re-judged as
the consumer adds ports (`PortPrefilter.pick_rows`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from ftptrace.net.prefilter import CLASSIFIED_LINKTYPES, classify

if TYPE_CHECKING:
    import mmap

ROW = [
    ("frame", "<i8"),  # frame number in the file, from 1
    ("off", "<i8"),  # offset of the 16-byte record header in the batch's `data`
    ("sec", "<u4"),  # record header: time stamp seconds, fraction, lengths
    ("frac", "<u4"),
    ("incl", "<u4"),
    ("orig", "<u4"),
    ("kind", "u1"),  # prefilter: 0 dropped, 1 kept, 2 kept if a port is in the live set
    ("tcp", "u1"),  # 1: Ethernet + IPv4 (no options, not a fragment) + TCP, fields below valid
    ("flags", "u1"),
    ("ttl", "u1"),
    ("seq", "<u4"),
    ("ack", "<u4"),
    ("p0", "<u4"),  # payload start, relative to `off` (may exceed p1: no payload)
    ("p1", "<u4"),  # payload end (the IPv4 total length, cut at the captured length)
    ("sport", "<u2"),
    ("dport", "<u2"),
]
"""One record's description; `numpy.dtype(ROW)` is packed (no padding), so the helper can
send the rows' bytes as they are."""

KIND_KEEP, KIND_DEPENDS = 1, 2

Row = tuple[int, int, int, int, int, int, int, int, int, int, int, int, int, int, int, int]
"""A `ROW` as a tuple of ints (`numpy` `tolist()` of a record array), fields in order."""

_ETH_TCP_WINDOW = 48
"""Bytes of an Ethernet frame the fast path reads: 14 (Ethernet) + 20 (IPv4) + 14 (TCP up
to the flags)."""


class FrameBatch(NamedTuple):
    """The kept records of one buffer: rows to read, `data` to slice them from."""

    data: bytes | mmap.mmap
    units: int
    """Time stamp fraction units per second (10**6 or 10**9)."""
    linktype: int
    rows: Iterator[Row]
    """Kept records in file order; a generator that re-judges the records after the one it
    last yielded when the consumer added ports (`PortPrefilter.pick_rows`)."""
    last: int
    """Frame number of the buffer's last record, kept or not."""


def row_dtype() -> Any:
    import numpy as np

    return np.dtype(ROW)


def describe(
    linktype: int,
    buf: bytes,
    heads: list[int],
    last_end: int,
    *,
    order: str,
    first: int,
    shift: int = 0,
) -> Any:
    """The `ROW` record array of the records whose 16-byte headers start at `heads` in
    `buf` (the last one ends at `last_end`); frame numbers start after `first`, and `off`
    is `head + shift` (the file offset of the record when `shift` is `buf`'s own).

    Every index is clamped into the buffer and every field is masked by the length checks
    that guard it in the per-frame path (`fastpath`), so a short frame never passes as TCP.
    """
    import numpy as np

    count = len(heads)
    if not count:
        return np.zeros(0, dtype=row_dtype())
    a = np.frombuffer(buf, dtype=np.uint8)
    last = len(a) - 1
    h = np.array(heads, dtype=np.int64)
    rec = np.zeros(count, dtype=row_dtype())
    rec["frame"] = np.arange(first + 1, first + 1 + count, dtype=np.int64)
    rec["off"] = h + shift
    header = a[np.minimum(h[:, None] + np.arange(16), last)].view(order + "u4")
    rec["sec"], rec["frac"] = header[:, 0], header[:, 1]
    rec["incl"], rec["orig"] = header[:, 2], header[:, 3]
    starts = h + 16
    ends = np.empty_like(h)
    ends[:-1] = h[1:]
    ends[-1] = last_end
    if linktype in CLASSIFIED_LINKTYPES:
        certain, depends, sport, dport = classify(linktype, buf, starts.tolist(), ends.tolist())
        rec["kind"] = depends * KIND_DEPENDS + certain * KIND_KEEP
        rec["sport"], rec["dport"] = sport, dport
    else:
        rec["kind"] = KIND_KEEP
    if linktype == 1:
        _describe_tcp(np, a, starts, ends, rec)
    return rec


def _describe_tcp(np: Any, a: Any, starts: Any, ends: Any, rec: Any) -> None:
    """Fill the TCP fields of the Ethernet/IPv4/TCP frames, with the per-frame path's
    tests: EtherType 0x0800, IPv4 version 4 and a 20-byte header (RFC 791 §3.1), protocol 6,
    not a fragment, a TCP data offset of 5 words or more (RFC 9293 §3.1) that fits in the
    IPv4 total length (or in the captured bytes when the total length is 0: TSO)."""
    last = len(a) - 1
    w = a[np.minimum(starts[:, None] + np.arange(_ETH_TCP_WINDOW), last)].astype(np.int64)
    size = ends - starts
    total = (w[:, 16] << 8) | w[:, 17]
    end = np.where(total != 0, 14 + total, size)
    doff = (w[:, 46] >> 4) << 2
    tcp = (
        (size >= _ETH_TCP_WINDOW)
        & (w[:, 12] == 8)
        & (w[:, 13] == 0)
        & (w[:, 14] == 0x45)
        & (w[:, 23] == 6)
        & ((((w[:, 20] & 0x1F) << 8) | w[:, 21]) == 0)
        & (doff >= 20)
        & (34 + doff <= end)
    )
    rec["tcp"] = tcp
    rec["flags"] = np.where(tcp, w[:, 47], 0)
    rec["ttl"] = np.where(tcp, w[:, 22], 0)
    rec["seq"] = np.where(tcp, (w[:, 38] << 24) | (w[:, 39] << 16) | (w[:, 40] << 8) | w[:, 41], 0)
    rec["ack"] = np.where(tcp, (w[:, 42] << 24) | (w[:, 43] << 16) | (w[:, 44] << 8) | w[:, 45], 0)
    rec["p0"] = np.where(tcp, 16 + 34 + doff, 0)
    rec["p1"] = np.where(tcp, 16 + np.minimum(end, size), 0)
