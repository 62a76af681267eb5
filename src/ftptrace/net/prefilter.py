"""Drop bulk frames before any object is built: the replay's port prefilter.

Most frames of a large capture are HTTPS, DNS and other bulk that FTP diagnosis never
needs. The rule (also applied in full by `net.decode.decode(..., ports)`, so this stage
only has to keep a superset): keep a TCP segment when it carries SYN, FIN or RST, when
either port is in the live port set (control ports, announced data ports, tracked
connections), or when its payload starts with an FTP greeting "220" (RFC 959 §5.4);
drop UDP; keep everything it cannot judge cheaply (IPv6, VLAN tags, ICMP, fragments,
other link layers) for `decode` to judge.

Two forms of the same rule:

* `PortPrefilter.__call__` judges one frame in place (the pcapng reader, and any reader
  without numpy's help);
* `classify` judges a whole buffer of classic-pcap records at once with numpy (for
  `net.frame_batch.describe`), and `PortPrefilter.pick_rows` then walks the survivors in
  order, re-checking the records that depend on the port set whenever the consumer added
  ports while handling an earlier frame. Why: a Python function call per frame costs as
  much as the rest of the read (bench/README.md).

The port set is live: a 227 reply read from frame 1000 makes frame 1001 to that port
matter. `LivePorts` is a `set` that also keeps a lookup table and a log of new ports, so
`pick_rows` can pick up an addition between two rows it yields.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ftptrace.net.model import FIN, RST, SYN

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_KEEP_FLAGS = SYN | FIN | RST
_GREETING = b"220"


class LivePorts(set[int]):
    """The set of ports whose every segment matters, as a set plus what `pick_rows` needs.

    `table` mirrors membership as a numpy boolean lookup table (built on first use) and
    `added` logs ports that entered since the consumer last cleared it. Removals only make
    the table a superset until `intersection_update` resynchronises it; a superset is
    harmless because `decode` re-applies the rule with the set itself.
    """

    def __init__(self, ports: Iterable[int] = ()) -> None:
        super().__init__(ports)
        self.added: list[int] = []
        self._table: npt.NDArray[np.bool_] | None = None

    @property
    def table(self) -> npt.NDArray[np.bool_]:
        if self._table is None:
            import numpy as np

            self._table = np.zeros(65536, dtype=np.bool_)
            self._table[[p for p in self if 0 <= p < 65536]] = True
        return self._table

    def add(self, port: int) -> None:
        if port not in self:
            super().add(port)
            self.added.append(port)
            if self._table is not None and 0 <= port < 65536:
                self._table[port] = True

    def update(self, *others: Iterable[int]) -> None:
        for ports in others:
            for port in ports:
                self.add(port)

    def __ior__(self, other: Any) -> LivePorts:  # type: ignore[override,misc]
        self.update(other)
        return self

    def symmetric_difference_update(self, other: Iterable[int]) -> None:
        for port in set(other):
            if port in self:
                self.discard(port)
            else:
                self.add(port)

    def __ixor__(self, other: Any) -> LivePorts:  # type: ignore[override,misc]
        self.symmetric_difference_update(other)
        return self

    def intersection_update(self, *others: Iterable[Any]) -> None:
        super().intersection_update(*others)
        self._table = None  # rebuilt exactly on next use


class PortPrefilter:
    """The prefilter over a live port set (see the module docstring for the rule)."""

    def __init__(self, ports: set[int]) -> None:
        self.ports = ports

    def __call__(self, linktype: int, buf: bytes, start: int, end: int) -> bool:
        """Keep the frame `buf[start:end]`? False only when it is surely irrelevant."""
        if linktype == 1:
            if end - start < 34 or buf[start + 12] != 8 or buf[start + 13] != 0:
                return True
            ip = start + 14
        elif linktype in (101, 228):
            if end - start < 20 or buf[start] >> 4 != 4:
                return True
            ip = start
        else:
            return True
        proto = buf[ip + 9]
        if proto == 17:
            return False  # UDP: never FTP
        if proto != 6 or buf[ip + 6] & 0x3F or buf[ip + 7]:
            return True  # ICMP, others, fragments: let decode() judge
        t = ip + ((buf[ip] & 15) << 2)
        if t + 14 > end:
            return True
        if buf[t + 13] & _KEEP_FLAGS:
            return True
        ports = self.ports
        if (buf[t] << 8 | buf[t + 1]) in ports or (buf[t + 2] << 8 | buf[t + 3]) in ports:
            return True
        p = t + ((buf[t + 12] >> 4) << 2)
        return p + 3 <= end and buf[p : p + 3] == _GREETING

    @property
    def batched(self) -> bool:
        """`pick_rows` is usable: the port set logs its additions."""
        return isinstance(self.ports, LivePorts)

    def pick_rows(self, rows: Any) -> Iterator[Any]:
        """The rows to keep of a `net.frame_batch.ROW` record array (in frame order;
        records the prefilter drops whatever the ports may be left out), as tuples, in
        order, judged as `__call__` would judge each record.

        A generator: the consumer handles each yielded row (and may add ports) before
        asking for the next, and the records further on that only depended on the port
        set are then re-judged against the ports added. Needs a `LivePorts` set; it
        clears the set's `added` log.
        """
        import numpy as np

        ports = self.ports
        assert isinstance(ports, LivePorts)
        ports.added.clear()
        # Contiguous copies: re-judging scans them again, and strided views of the
        # record array would be copied by every such scan (searchsorted above all).
        kind = rows["kind"]
        certain, depends = kind == 1, kind == 2
        sport = np.ascontiguousarray(rows["sport"])
        dport = np.ascontiguousarray(rows["dport"])
        frames = np.ascontiguousarray(rows["frame"])
        columns = [rows[name] for name in rows.dtype.names]

        def take(indices: Any) -> list[Any]:
            # Column by column then zipped: half the cost of the record array's own
            # tolist(), which boxes every field through a numpy scalar.
            return list(zip(*[column[indices].tolist() for column in columns], strict=True))

        table = ports.table
        keep = certain | (depends & (table[sport] | table[dport]))
        items = take(np.flatnonzero(keep))
        present: set[int] | None = None  # ports of the records that depend on the set
        i = 0
        while i < len(items):
            item = items[i]
            i += 1
            yield item
            if ports.added:
                # Ports added while the consumer handled `item`: records after it that
                # only depended on the port set may now be kept.
                new = ports.added[:]
                ports.added.clear()
                if present is None:
                    present = set(sport[depends].tolist()) | set(dport[depends].tolist())
                if present.isdisjoint(new):
                    continue  # none of this buffer's records uses them: nothing to redo
                rest = int(np.searchsorted(frames, item[0])) + 1  # rows may skip records
                hit = np.zeros(len(keep) - rest, dtype=np.bool_)
                for port in new:
                    hit |= (sport[rest:] == port) | (dport[rest:] == port)
                hit &= depends[rest:] & ~keep[rest:]
                if hit.any():
                    keep[rest:] |= hit
                    # By frame number (the rows' first field), not by position: finding
                    # a row's position is a search.
                    items = sorted(items[i:] + take(np.flatnonzero(hit) + rest), key=_frame)
                    i = 0


_frame = itemgetter(0)


CLASSIFIED_LINKTYPES = frozenset({1, 101, 228})
"""Link types `classify` judges (Ethernet, raw IP); frames of others are all kept."""


def classify(
    linktype: int, buf: bytes, starts: list[int], ends: list[int]
) -> tuple[Any, Any, Any, Any]:
    """(certain, depends, sport, dport) for the records `buf[starts[i]:ends[i]]`; see
    `_classify`. `linktype` must be one of CLASSIFIED_LINKTYPES."""
    import numpy as np

    return _classify(np, linktype, buf, starts, ends)


def _classify(
    np: Any, linktype: int, buf: bytes, starts: list[int], ends: list[int]
) -> tuple[Any, Any, Any, Any]:
    """Vectorised `PortPrefilter.__call__` up to the port test.

    Returns (certain, depends, sport, dport): `certain` frames are kept whatever the port
    set; `depends` frames are kept when sport or dport is in it; the rest are dropped.
    Every index is clamped into the buffer and every field read is masked by the length
    checks that guard it in `__call__`, so short frames read no garbage into a decision.
    """
    a = np.frombuffer(buf, dtype=np.uint8)
    last = len(a) - 1
    s = np.array(starts, dtype=np.int64)
    e = np.array(ends, dtype=np.int64)

    def at(index: Any) -> Any:
        return a[np.minimum(index, last)]

    if linktype == 1:
        ip = s + 14
        eligible = (e - s >= 34) & (at(s + 12) == 8) & (at(s + 13) == 0)
    else:
        ip = s
        eligible = (e - s >= 20) & ((at(s) >> 4) == 4)
    proto = at(ip + 9)
    udp = eligible & (proto == 17)
    tcp = eligible & (proto == 6) & ((at(ip + 6) & 0x3F) == 0) & (at(ip + 7) == 0)
    t = ip + ((at(ip) & 15).astype(np.int64) << 2)
    whole = tcp & (t + 14 <= e)
    flagged = whole & ((at(t + 13) & _KEEP_FLAGS) != 0)
    p = t + ((at(t + 12) >> 4).astype(np.int64) << 2)
    greeting = (p + 3 <= e) & (at(p) == 0x32) & (at(p + 1) == 0x32) & (at(p + 2) == 0x30)
    depends = whole & ~flagged & ~greeting
    certain = ~udp & ~depends
    sport = (at(t).astype(np.int64) << 8) | at(t + 1)
    dport = (at(t + 2).astype(np.int64) << 8) | at(t + 3)
    return certain, depends, sport, dport
