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
    ("ts", "<f8"),  # record header: time stamp (seconds), captured and original lengths
    ("incl", "<u4"),
    ("orig", "<u4"),
    ("kind", "u1"),  # prefilter: 0 dropped, 1 kept, 2 kept if a port is in the live set
    ("tcp", "u1"),  # 1: Ethernet + IPv4 (no options, not a fragment) + TCP, fields below valid
    ("flags", "u1"),
    ("ttl", "u1"),
    ("ipid", "<u2"),  # IPv4 identification: told apart who sent a RST (`ConnState.rst`)
    ("seq", "<u4"),
    ("ack", "<u4"),
    ("p0", "<u4"),  # payload start, relative to `off` (may exceed p1: no payload)
    ("p1", "<u4"),  # payload end (the IPv4 total length, cut at the captured length)
    ("sport", "<u2"),
    ("dport", "<u2"),
    ("key", "V12"),  # IPv4 source and destination, TCP ports: `TraceBuilder.by_wire_key`
]
"""One record's description; `numpy.dtype(ROW)` is packed (no padding), so the helper can
send the rows' bytes as they are."""

KIND_KEEP, KIND_DEPENDS = 1, 2

Row = tuple[Any, ...]
"""A `ROW` as a tuple (`numpy` `tolist()` of a record array: ints, the time stamp a float,
the key bytes), fields in order."""

_ETH_TCP_WINDOW = 48
"""Bytes of an Ethernet frame the fast path reads: 14 (Ethernet) + 20 (IPv4) + 14 (TCP up
to the flags)."""


_ETH_TCP_BYTES = [*range(12, 15), *range(16, 24), *range(38, 48), *range(26, 38)]
"""EtherType, IPv4 version/IHL, total length, identification, fragment field, TTL,
protocol; TCP sequence and acknowledgment numbers, data offset, flags (the ports come from
`classify`); then the 12 bytes of addresses and ports, the connection's wire key."""
_KEY_AT = 21
"""Where the wire key starts among `_ETH_TCP_BYTES`."""


class FrameBatch(NamedTuple):
    """The kept records of one buffer: rows to read, `data` to slice them from."""

    data: bytes | mmap.mmap
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
    units: int,
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
    h = np.array(heads, dtype=np.int64)
    rec = np.empty(count, dtype=row_dtype())
    rec["frame"] = np.arange(first + 1, first + 1 + count, dtype=np.int64)
    rec["off"] = h + shift
    # Every record is whole inside `buf` (PcapWalk), so its header needs no clamping.
    a = np.frombuffer(buf, dtype=np.uint8)
    header = a[h[:, None] + np.arange(16)].view(order + "u4")
    rec["ts"] = _timestamps(np, header[:, 0], header[:, 1], units)
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
        rec["sport"] = rec["dport"] = 0
    if linktype == 1:
        _describe_tcp(np, a, starts, ends, rec)
    else:
        for name in ("tcp", "flags", "ttl", "ipid", "seq", "ack", "p0", "p1"):
            rec[name] = 0
        rec["key"] = bytes(12)
    return rec


def _timestamps(np: Any, sec: Any, frac: Any, units: int) -> Any:
    """`(sec * units + frac) / units` as Python computes it for each record.

    While every numerator is below 2**53 it is a double exactly, and one IEEE division is
    then the correctly rounded quotient, which is what Python's int / int gives too
    (microsecond captures always; nanosecond ones only before 1970-04-15). Otherwise each
    is computed by Python itself."""
    if int(sec.max()) * units + int(frac.max()) < 1 << 53:
        return (sec.astype(np.int64) * units + frac) / units
    return np.array(
        [(s * units + f) / units for s, f in zip(sec.tolist(), frac.tolist(), strict=True)],
        dtype=np.float64,
    )


def _describe_tcp(np: Any, a: Any, starts: Any, ends: Any, rec: Any) -> None:
    """Fill the TCP fields of the Ethernet/IPv4/TCP frames, with the per-frame path's
    tests: EtherType 0x0800, IPv4 version 4 and a 20-byte header (RFC 791 §3.1), protocol 6,
    not a fragment, a TCP data offset of 5 words or more (RFC 9293 §3.1) that fits in the
    IPv4 total length (or in the captured bytes when the total length is 0: TSO).

    Only the bytes those tests and fields use are gathered (`_ETH_TCP_BYTES`); a frame
    shorter than the window reads whatever follows it (clamped to the buffer), which its
    length test then discards."""
    w = a[np.minimum(starts[:, None] + np.array(_ETH_TCP_BYTES), len(a) - 1)]
    (et0, et1, vihl, tot0, tot1, id0, id1, frag0, frag1, ttl, proto,
     s0, s1, s2, s3, a0, a1, a2, a3, doff, flags) = w[:, :_KEY_AT].T
    size = ends - starts
    total = (tot0.astype(np.int64) << 8) | tot1
    end = np.where(total != 0, total + 14, size)
    doff = (doff >> 4).astype(np.int64) << 2
    tcp = (
        (size >= _ETH_TCP_WINDOW)
        & (et0 == 8)
        & (et1 == 0)
        & (vihl == 0x45)
        & (proto == 6)
        & ((frag0 & 0x1F) == 0)
        & (frag1 == 0)
        & (doff >= 20)
        & (doff + 34 <= end)
    )
    u4 = np.uint32
    rec["tcp"] = tcp
    rec["flags"] = flags * tcp
    rec["ttl"] = ttl * tcp
    rec["ipid"] = ((id0.astype(np.uint16) << 8) | id1) * tcp
    rec["seq"] = ((s0.astype(u4) << 24) | (s1.astype(u4) << 16) | (s2.astype(u4) << 8) | s3) * tcp
    rec["ack"] = ((a0.astype(u4) << 24) | (a1.astype(u4) << 16) | (a2.astype(u4) << 8) | a3) * tcp
    rec["p0"] = (doff + 50) * tcp
    rec["p1"] = (np.minimum(end, size) + 16) * tcp
    key = np.ascontiguousarray(w[:, _KEY_AT : _KEY_AT + 12])
    key[~tcp] = 0
    rec["key"] = key.view("V12").ravel()
