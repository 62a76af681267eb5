"""Annotated pcapng: the input capture's frames, unchanged, with packet comments on the
frames that matter ("PASV reply announces private 192.168.1.2:50000", "data SYN for LIST #2 —
unanswered …") that Wireshark and tshark show as `frame.comment`.

The writer follows draft-ietf-opsawg-pcapng: one section header block (§4.1), one interface
description block per (interface, link type) of the input (§4.2), and an enhanced packet
block per frame (§4.3) whose `opt_comment` option (code 1, §3.5) carries the note. Timestamps
are written in the default microsecond resolution (`if_tsresol` absent = 10^-6, §4.2).
Credentials never reach a comment: the PASS frame says "PASS ****" and every comment passes
through `mask_credentials` before it is written. Nor do they stay in the copied frames: the
argument of PASS/ACCT/ADAT, and that secret wherever a server echoes it later, is overwritten
with '*' of the same length (sequence numbers stay valid) and the TCP checksum adjusted
(RFC 1624), so the annotated copy can be shared where the original capture could not.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from ftptrace import __version__
from ftptrace.net.decode import decode
from ftptrace.net.model import Segment
from ftptrace.net.pcapng_writer import PcapngStream
from ftptrace.render.diagram_model import (
    ANNOUNCE_VERBS,
    RST_SENDER,
    Doc,
    channel_frames,
    command_text,
    endpoint,
    is_private,
    outcome_text,
    reply_text,
)

_PASS_RE = re.compile(r"(?i)\b(PASS|ACCT|ADAT)(\s+)(?!\*+\b)\S+")


def mask_credentials(text: str) -> str:
    """Replace any argument of PASS/ACCT/ADAT in free text by ****."""
    return _PASS_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}****", text)


class PcapngWriter:
    """Streams an annotated copy; interfaces are declared on first use, times in µs.

    The block encoding is `net.pcapng_writer.PcapngStream`'s; this adds the mapping of input
    interfaces to output ones and masks credentials in every comment.
    """

    def __init__(self, stream: BinaryIO, application: str = f"ftptrace {__version__}") -> None:
        self.stream = stream
        self._ng = PcapngStream(stream, application)
        self.ifaces: dict[tuple[int, int], int] = {}

    def interface(self, linktype: int, key: int = 0) -> int:
        """The pcapng interface id for (input interface `key`, `linktype`), declared once."""
        k = (key, linktype)
        if k not in self.ifaces:
            self.ifaces[k] = self._ng.add_interface(linktype)
        return self.ifaces[k]

    def packet(self, iface: int, ts: float, data: bytes, orig_len: int | None = None,
               comments: tuple[str, ...] = ()) -> None:
        # A damaged input may carry any timestamp: keep it inside the 64-bit field (§4.3).
        ticks = min(max(round(ts * 1_000_000), 0), (1 << 64) - 1) if ts == ts else 0
        self._ng.packet(iface, ticks, data, orig_len, (mask_credentials(c) for c in comments))


# --- what to say about which frame --------------------------------------------------------


def _scope(ip: str | None) -> str:
    private = is_private(ip)
    return "" if private is None else ("private " if private else "public ")


class _Notes:
    def __init__(self) -> None:
        self.by_frame: dict[int, list[str]] = {}

    def add(self, frame: object, text: str) -> None:
        if isinstance(frame, int) and frame > 0:
            notes = self.by_frame.setdefault(frame, [])
            if text not in notes:
                notes.append(text)


def _channel_notes(notes: _Notes, k: int, ch: Mapping[str, Any],
                   summaries: dict[int, list[str]]) -> None:
    label = f"{ch.get('command') or ch.get('via')} #{k}"
    ann = ch.get("announced") or {}
    where = endpoint({"ip": ann.get("ip"), "port": ann.get("port")}) if ann.get("ip") else (
        f"port {ann.get('port')}")
    what = "reply announces" if ch.get("passive") else "announces"
    ann_frame = ch.get("announced_frame")
    said = [*summaries.get(ann_frame, ())] if isinstance(ann_frame, int) else []
    notes.add(ann_frame, "; ".join([f"{ch.get('via')} {what} {_scope(ann.get('ip'))}{where} "
                                    f"(data for {label})", *said]))
    conn = ch.get("connection") or {}
    extra: list[str] = []
    for f in sorted(channel_frames(ch) - {ann_frame}):
        extra += [t for t in summaries.get(f, ()) if t not in extra and t not in said]
    notes.add(conn.get("syn_frame"), "; ".join([f"data SYN for {label} — {outcome_text(ch)}",
                                                *extra]))
    notes.add(conn.get("synack_frame"), f"data SYN-ACK for {label}: the connection was accepted")
    rst = conn.get("rst") or {}
    who = RST_SENDER.get(rst.get("from_peer"), "")
    notes.add(rst.get("frame"), f"RST from {rst.get('sender')}{f' ({who})' if who else ''} "
              f"refuses data for {label}")
    icmp = conn.get("icmp") or {}
    notes.add(icmp.get("frame"), f"ICMP {icmp.get('kind')} from {icmp.get('sender')} "
              f"for data {label}")


def _matches(capture: object, src: Path, only_one: bool) -> bool:
    if only_one or capture is None:
        return True
    c = Path(str(capture))
    if str(c) == str(src) or (c.name == src.name and not c.is_absolute()):
        return True
    try:
        return c.resolve() == src.resolve()
    except OSError:
        return False


def frame_comments(doc: Doc, src: Path) -> dict[int, list[str]]:
    """Comments per frame number of capture `src`, from the document's sessions and findings."""
    only_one = len(doc.get("captures") or ()) <= 1
    notes = _Notes()
    summaries: dict[int, list[str]] = {}
    for f in doc.get("findings") or ():
        for ev in f.get("evidence") or ():
            if _matches(ev.get("capture"), src, only_one):
                summaries.setdefault(int(ev.get("frame") or 0), []).append(
                    f"{f.get('code')}: {f.get('summary')}")
    for s in doc.get("sessions") or ():
        if not _matches(s.get("capture"), src, only_one):
            continue
        ctrl = s.get("control") or {}
        notes.add(ctrl.get("syn_frame"), f"FTP control connection {endpoint(s.get('client'))} → "
                  f"{endpoint(s.get('server'))}: {ctrl.get('outcome', 'established')}")
        for cmd in s.get("commands") or ():
            verb = str(cmd.get("command") or "").upper()
            reply = cmd.get("reply") or {}
            if verb == "PASS":
                notes.add(cmd.get("frame"), "PASS ****")
            code = int(reply.get("code") or 0)
            if code >= 400 or (verb in ANNOUNCE_VERBS and not s.get("data_channels")):
                notes.add(reply.get("frame"), f"reply to {command_text(cmd)}: {reply_text(reply)}")
        for k, ch in enumerate(s.get("data_channels") or (), 1):
            _channel_notes(notes, k, ch, summaries)
    said = [t for texts in notes.by_frame.values() for t in texts]
    for frame, texts in summaries.items():
        for t in texts:
            if not any(t in u for u in said):
                notes.add(frame, t)
    return {f: [mask_credentials(t) for t in ts] for f, ts in sorted(notes.by_frame.items())}


def write_annotated_pcapng(src: Path, out: Path, doc: dict[str, Any]) -> int:
    """Copy `src` (pcap, pcapng, gzip) to pcapng `out` with comments; return how many."""
    from ftptrace.net.pcap import open_capture

    comments = frame_comments(doc, src)
    written = 0
    masker = SecretMasker()
    with open_capture(src) as reader, out.open("wb") as stream:
        w = PcapngWriter(stream)
        for fr in reader:
            iface = w.interface(fr.linktype, fr.iface)
            texts = tuple(comments.get(fr.frame, ()))
            w.packet(iface, fr.ts, masker.frame(fr.linktype, fr.data), fr.orig_len, texts)
            written += len(texts)
    return written


# --- credentials in the copied frames -------------------------------------------------------

_SECRET_LINE = re.compile(rb"(?im)^[ \t]*(?:PASS|ACCT|ADAT)[ \t]+([^\r\n]+)")
_MIN_SECRET = 3
_MAX_SECRETS = 64


class SecretMasker:
    """Overwrites credentials in TCP payloads, frame by frame, in capture order.

    A PASS/ACCT/ADAT line's argument (RFC 959 §4.1.1, RFC 2228 §3) is masked where it is
    sent, and remembered, so that a server echoing it in a later reply is masked too.
    """

    def __init__(self) -> None:
        self.secrets: list[bytes] = []

    def frame(self, linktype: int, data: bytes) -> bytes:
        seg = decode(linktype, data, 0.0, 0)
        if type(seg) is not Segment or not seg.payload:
            return data
        payload = seg.payload
        masked = bytearray(payload)
        for m in _SECRET_LINE.finditer(payload):
            start, end = m.span(1)
            masked[start:end] = b"*" * (end - start)
            for secret in dict.fromkeys((m.group(1), m.group(1).strip())):
                if len(secret) >= _MIN_SECRET and secret not in self.secrets:
                    self.secrets.append(secret)
                    del self.secrets[:-_MAX_SECRETS]
        for secret in sorted(self.secrets, key=len, reverse=True):
            at = masked.find(secret)
            while at >= 0:
                masked[at : at + len(secret)] = b"*" * len(secret)
                at = masked.find(secret, at + len(secret))
        if masked == payload:
            return data
        return _splice(data, seg, payload, bytes(masked))


def _splice(data: bytes, seg: Segment, old: bytes, new: bytes) -> bytes:
    """`data` with the TCP payload `old` replaced by `new` (same length), checksum adjusted.

    The TCP header is found by its ports, sequence and acknowledgement numbers; should it
    not be found, the payload is replaced where it last occurs and the checksum left as is.
    """
    head = struct.pack("!HHII", seg.src.port, seg.dst.port, seg.seq, seg.ack)
    tcp = data.find(head)
    at = tcp + ((data[tcp + 12] >> 4) << 2) if tcp >= 0 and tcp + 20 <= len(data) else -1
    if at < 0 or data[at : at + len(old)] != old:
        at = data.rfind(old)  # the payload is the frame's tail (before any link trailer)
        return data if at < 0 else data[:at] + new + data[at + len(old) :]
    out = bytearray(data)
    out[at : at + len(old)] = new
    (check,) = struct.unpack_from("!H", data, tcp + 16)
    # RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), over the changed words only.
    total = (~check & 0xFFFF) + (~_ones(old, at - tcp) & 0xFFFF) + _ones(new, at - tcp)
    struct.pack_into("!H", out, tcp + 16, ~_fold(total) & 0xFFFF)
    return bytes(out)


def _ones(b: bytes, offset: int) -> int:
    """One's complement sum of `b` placed `offset` bytes after the checksummed area's start."""
    if offset % 2:
        b = b"\0" + b
    if len(b) % 2:
        b += b"\0"
    return _fold(sum(struct.unpack(f"!{len(b) // 2}H", b)))


def _fold(n: int) -> int:
    while n >> 16:
        n = (n & 0xFFFF) + (n >> 16)
    return n

