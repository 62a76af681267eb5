"""TCP stream reassembly and per-connection outcome (RFC 9293 §3.4 sequence space).

Only control connections are reassembled byte for byte; data connections are counted
(bytes from sequence numbers, so retransmissions do not inflate them). All buffers are
bounded: a gap that does not fill is skipped and reported, never waited for forever.
"""

from __future__ import annotations

from collections.abc import Callable

from ftptrace.net.model import ACK, FIN, RST, SYN, Endpoint, IcmpError, Segment

MOD = 1 << 32
HALF = 1 << 31
_SYN_FIN_RST_ACK = SYN | FIN | RST | ACK
MAX_PENDING_SEGMENTS = 128
MAX_PENDING_BYTES = 256 * 1024


def seq_diff(a: int, b: int) -> int:
    """a - b in 32-bit sequence space, as a signed number (RFC 9293 §3.4)."""
    d = (a - b) % MOD
    return d - MOD if d >= HALF else d


class HalfStream:
    """One direction of a TCP connection: in-order delivery of payload bytes.

    `deliver` receives contiguous bytes in order. Out-of-order segments wait in a bounded
    buffer; overlapping retransmissions are trimmed; when the buffer overflows the hole is
    skipped and `on_gap` is told how many bytes were lost.
    """

    __slots__ = (
        "acked",
        "base",
        "deliver",
        "fin",
        "gaps",
        "high",
        "next_seq",
        "on_gap",
        "pending",
        "pending_bytes",
    )

    def __init__(
        self,
        deliver: Callable[[bytes, float, int], None] | None,
        on_gap: Callable[[int, float, int], None] | None = None,
    ) -> None:
        self.deliver = deliver
        self.on_gap = on_gap
        self.next_seq: int | None = None
        self.base: int | None = None
        self.high: int | None = None
        self.pending: dict[int, tuple[bytes, float, int]] = {}
        self.pending_bytes = 0
        self.gaps = 0
        self.acked: int | None = None
        """Highest sequence number the peer acknowledged: the true extent of the data even
        when a snaplen cut the captured payloads short (RFC 9293 §3.4)."""
        self.fin: int | None = None
        """Sequence number of this direction's FIN segment, if one was seen."""

    @property
    def byte_count(self) -> int:
        """Payload bytes sent in this direction, counted by sequence space.

        The end is the highest byte seen or acknowledged by the peer (captured payloads may
        be cut by a snaplen), never beyond this direction's FIN, which takes one sequence
        number of its own (RFC 9293 §3.4).
        """
        if self.base is None or self.high is None:
            return 0
        end = self.high
        acked = self.acked
        if acked is not None and self.fin is not None and seq_diff(acked, self.fin) > 0:
            acked = (acked - 1) % MOD  # the FIN itself was acknowledged: not a data byte
        if acked is not None and seq_diff(acked, end) > 0:
            end = acked
        return max(0, seq_diff(end, self.base))

    def ack(self, ack: int) -> None:
        """The peer acknowledged everything before `ack`."""
        if self.acked is None or seq_diff(ack, self.acked) > 0:
            self.acked = ack

    def add(self, seq: int, flags: int, payload: bytes, ts: float, frame: int) -> None:
        if flags & SYN:
            seq = (seq + 1) % MOD
            if self.base is None:
                self.base = seq
                self.high = seq
                self.next_seq = seq
        if flags & 0x01 and self.fin is None:
            self.fin = seq  # where the FIN segment starts (its payload may be cut short)
        if payload:
            self.add_payload(seq, payload, ts, frame)

    def add_payload(self, seq: int, payload: bytes, ts: float, frame: int) -> None:
        """`add` of a non-empty payload whose SYN/FIN, if any, `add` has accounted for:
        what nearly every data or control segment needs (`ConnState.plain`)."""
        high = self.high
        if high is None:
            # Capture started mid-stream: take the first seen byte as the origin.
            self.base = high = self.next_seq = seq
        end = (seq + len(payload)) % MOD
        if 0 < (end - high) % MOD < HALF:  # seq_diff(end, high) > 0
            self.high = end
        if self.deliver is None:
            return
        if seq == self.next_seq and not self.pending:
            # In order with nothing waiting: the usual control segment, delivered as is.
            self.next_seq = end
            self.deliver(payload, ts, frame)
            return
        self._reassemble(seq, payload, ts, frame)

    def _reassemble(self, seq: int, payload: bytes, ts: float, frame: int) -> None:
        assert self.next_seq is not None
        offset = seq_diff(seq, self.next_seq)
        if offset < 0:
            # Retransmission or overlap: keep only bytes beyond what was delivered.
            if -offset >= len(payload):
                return
            payload = payload[-offset:]
            seq = self.next_seq
            offset = 0
        if offset > 0:
            if seq not in self.pending or len(self.pending[seq][0]) < len(payload):
                old = self.pending.get(seq)
                self.pending_bytes += len(payload) - (len(old[0]) if old else 0)
                self.pending[seq] = (payload, ts, frame)
            if len(self.pending) > MAX_PENDING_SEGMENTS or self.pending_bytes > MAX_PENDING_BYTES:
                self.skip_gap(ts, frame)
            return
        self._emit(payload, ts, frame)
        self._drain()

    def _emit(self, payload: bytes, ts: float, frame: int) -> None:
        assert self.next_seq is not None and self.deliver is not None
        self.next_seq = (self.next_seq + len(payload)) % MOD
        self.deliver(payload, ts, frame)

    def _drain(self) -> None:
        while self.pending:
            assert self.next_seq is not None
            progressed = False
            for seq in sorted(self.pending, key=lambda s: seq_diff(s, self.next_seq or 0)):
                offset = seq_diff(seq, self.next_seq)
                if offset > 0:
                    break
                data, ts, frame = self.pending.pop(seq)
                self.pending_bytes -= len(data)
                if -offset < len(data):
                    self._emit(data[-offset:], ts, frame)
                progressed = True
                break
            if not progressed:
                return

    def skip_gap(self, ts: float, frame: int) -> None:
        """Give up on missing bytes: jump to the earliest buffered segment and go on."""
        if not self.pending or self.next_seq is None:
            return
        first = min(self.pending, key=lambda s: seq_diff(s, self.next_seq or 0))
        lost = seq_diff(first, self.next_seq)
        self.gaps += 1
        if self.on_gap is not None:
            self.on_gap(lost, ts, frame)
        self.next_seq = first
        self._drain()

    def flush(self, ts: float, frame: int) -> None:
        """End of capture or connection: deliver what can be delivered past any holes."""
        guard = 0
        while self.pending and guard < MAX_PENDING_SEGMENTS + 1:
            self.skip_gap(ts, frame)
            guard += 1


class ConnState:
    """Everything observed about one TCP connection, updated packet by packet."""

    __slots__ = (
        "closed",
        "established",
        "first_ts",
        "frame_first",
        "icmp",
        "last_ts",
        "orig",
        "resp",
        "rst",
        "saw_payload",
        "syn_count",
        "syn_frame",
        "syn_ttl",
        "synack_frame",
        "synack_ttl",
        "to_orig",
        "to_resp",
        "ttl_orig",
        "ttl_resp",
    )

    def __init__(self, orig: Endpoint, resp: Endpoint, ts: float, frame: int) -> None:
        self.orig = orig
        self.resp = resp
        self.first_ts = ts
        self.last_ts = ts
        self.frame_first = frame
        self.syn_count = 0
        self.syn_frame: int | None = None
        self.syn_ttl: int | None = None
        self.synack_frame: int | None = None
        self.synack_ttl: int | None = None
        self.established = False
        self.rst: tuple[int, str, int, int | None] | None = None
        self.icmp: IcmpError | None = None
        self.saw_payload = False
        self.closed = False
        self.ttl_orig: int | None = None
        self.ttl_resp: int | None = None
        self.to_resp = HalfStream(None)
        self.to_orig = HalfStream(None)

    def plain(
        self,
        from_orig: bool,
        ts: float,
        frame: int,
        seq: int,
        ack: int,
        payload: bytes,
        ttl: int,
    ) -> None:
        """`update` for the bulk of every connection: a plain ACK (no SYN, FIN or RST),
        with or without payload. Same bookkeeping, without the handshake and close tests."""
        self.last_ts = ts
        if from_orig:
            self.ttl_orig = ttl
            if self.synack_frame is not None:
                self.established = True
            peer, half = self.to_orig, self.to_resp
        else:
            self.ttl_resp = ttl
            peer, half = self.to_resp, self.to_orig
        acked = peer.acked
        if acked is None or 0 < (ack - acked) % MOD < HALF:  # seq_diff(ack, acked) > 0
            peer.acked = ack
        if payload:
            self.saw_payload = True
            half.add_payload(seq, payload, ts, frame)

    def update(self, seg: Segment) -> bool:
        """Account for one segment; return True when it travels orig → resp."""
        ts, frame, src, _dst, flags, seq, ack, payload, ttl, ip_id = seg
        from_orig = src == self.orig
        if flags & _SYN_FIN_RST_ACK == ACK:
            self.plain(from_orig, ts, frame, seq, ack, payload, ttl)
        else:
            self.flagged(from_orig, ts, frame, flags, seq, ack, payload, ttl, ip_id)
        return from_orig

    def flagged(
        self,
        from_orig: bool,
        ts: float,
        frame: int,
        flags: int,
        seq: int,
        ack: int,
        payload: bytes,
        ttl: int,
        ip_id: int | None,
    ) -> None:
        """`update` for a segment with SYN, FIN or RST (or without ACK): the handshake,
        the close and the reset (RFC 9293 §3.5, §3.6), called directly by the fast path
        for a connection known by its wire key."""
        self.last_ts = ts
        if from_orig:
            if self.ttl_orig is None or not flags & SYN:
                self.ttl_orig = ttl
            if flags & SYN and not flags & ACK:
                self.syn_count += 1
                if self.syn_frame is None:
                    self.syn_frame = frame
                    self.syn_ttl = ttl
            elif flags & ACK and self.synack_frame is not None:
                self.established = True
            half = self.to_resp
        else:
            if self.ttl_resp is None or not flags & SYN:
                self.ttl_resp = ttl
            if flags & SYN and flags & ACK and self.synack_frame is None:
                self.synack_frame = frame
                self.synack_ttl = ttl
            half = self.to_orig
        if flags & RST and self.rst is None and not self.established and not self.saw_payload:
            sender = self.orig if from_orig else self.resp
            self.rst = (frame, sender.ip, ttl, ip_id)
        if flags & FIN or flags & RST:
            self.closed = True
        if payload:
            self.saw_payload = True
        if flags & ACK:
            (self.to_orig if from_orig else self.to_resp).ack(ack)
        half.add(seq, flags, payload, ts, frame)
