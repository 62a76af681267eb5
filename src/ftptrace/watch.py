"""`ftptrace watch`: FTP sessions rebuilt live, one line per data channel as it resolves.

The core (`Watcher`) is sans-IO: packets and clock ticks in, events out, so tests drive
it with a `wire.Wire` conversation and a fake clock. `run_watch` wires it to a
`LiveSniffer` (root) and prints. A channel's line comes once its fate is certain (see
`TraceBuilder.drain_resolved`); its findings come with it, diagnosed by the same rules a
replay uses. Memory stays bounded on a busy link: the builder forgets what it reported,
idle state expires, and the watcher keeps only bounded windows of recent results.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ftptrace.diagnose.findings import Code, Finding, Severity
from ftptrace.diagnose.rules import Diagnosis
from ftptrace.model import CaptureInfo, Connection, DataChannel, Outcome, Session, Trace
from ftptrace.net.model import Packet
from ftptrace.render.json import finding_dict
from ftptrace.trace import TraceBuilder

TICK = 0.25
"""Seconds between resolution passes when packets are scarce."""
SEEN_LIMIT = 10_000
"""Finding keys remembered so each is printed once (oldest forgotten first)."""
SESSION_CODES = frozenset({Code.LOGIN_FAILED, Code.CONTROL_ENCRYPTED, Code.PROTOCOL_ANOMALY,
                           Code.CAPTURE_DAMAGED})
ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEvent:
    ts: float
    session: Session
    channel: DataChannel
    findings: tuple[Finding, ...]
    """New findings only: one printed for an earlier channel is not repeated."""
    where: str = ""
    """Where it failed (from its findings, repeated or not); empty when it worked."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionEvent:
    ts: float
    session: Session
    findings: tuple[Finding, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptEvent:
    ts: float
    connection: Connection
    findings: tuple[Finding, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingEvent:
    """A finding that concerns several channels at once (the passive range)."""

    ts: float
    finding: Finding


Event = ChannelEvent | SessionEvent | AttemptEvent | FindingEvent


@dataclass(slots=True)
class Summary:
    packets: int = 0
    sessions: int = 0
    channels: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    findings: OrderedDict[tuple[object, ...], Finding] = field(default_factory=OrderedDict)
    dropped: int = 0
    started: float = 0.0
    ended: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings.values())


class Watcher:
    """Sans-IO live session rebuilder: `feed` packets, `tick` the clock, read events."""

    def __init__(self, label: str = "live", control_ports: frozenset[int] = frozenset({21}),
                 *, wait: float = 10.0, linger: float = 2.0) -> None:
        self.builder = TraceBuilder(CaptureInfo(path=label), control_ports=control_ports)
        self.wait = wait
        self.linger = linger
        self.summary = Summary(started=time.time())
        self.diagnosis = Diagnosis()
        """The replay's rules, fed one resolved channel at a time (it keeps only per-server
        port sets for the passive-range verdict)."""
        self._seen: OrderedDict[tuple[object, ...], None] = OrderedDict()

    def feed(self, pkt: Packet) -> None:
        self.summary.packets += 1
        self.builder.feed(pkt)

    def tick(self, now: float) -> list[Event]:
        """Everything that became certain by `now` (seconds since the epoch)."""
        r = self.builder.drain_resolved(now, wait=self.wait, linger=self.linger)
        events: list[Event] = []
        for s, ch in r.channels:
            found = self.diagnosis.session(s)
            bad = [f for f in found if f.severity is not Severity.INFO
                   and f.code not in SESSION_CODES]
            events.append(ChannelEvent(ts=now, session=s, channel=ch,
                                       findings=self._new(found, channel=True),
                                       where=bad[0].where.value if bad else ""))
            self.summary.channels[ch.outcome.value] += 1
        for s in r.sessions:
            self.summary.sessions += 1
            found = self.diagnosis.session(replace(s, data_channels=()))
            events.append(SessionEvent(ts=now, session=s,
                                       findings=self._new(found, channel=False)))
        for c in r.attempts:
            self.summary.attempts[c.outcome.value] += 1
            found = self.diagnosis.finish(Trace(captures=(), sessions=(), control_attempts=(c,)))
            events.append(AttemptEvent(ts=now, connection=c, findings=self._new(
                [f for f in found if f.code is not Code.PASSIVE_RANGE_PARTIALLY_FORWARDED],
                channel=None)))
        if r.sessions:
            # Once a session is over its ports tell how much of the range works; a verdict
            # after the first two transfers would guess the forwarded range too narrow.
            events += [FindingEvent(ts=now, finding=f) for f in self._range_findings()]
        return events

    def close(self, now: float | None = None) -> list[Event]:
        """End of watching: resolve everything still open."""
        end = (now or time.time()) + 10 * 365 * 86400.0
        events = self.tick(end)
        self.summary.ended = now or time.time()
        return events

    def _new(self, found: Iterable[Finding], *, channel: bool | None) -> tuple[Finding, ...]:
        """Findings not printed before; `channel`: only channel-level (True) or only
        session-level (False) codes, or any (None)."""
        out = []
        for f in found:
            if channel is not None and channel == (f.code in SESSION_CODES):
                continue
            key = (f.code, f.summary)
            if key in self._seen:
                continue
            self._remember(key, f)
            out.append(f)
        return tuple(sorted(out, key=lambda f: ORDER[f.severity]))

    def _remember(self, key: tuple[object, ...], f: Finding) -> None:
        self._seen[key] = None
        self.summary.findings[key] = f
        while len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)
        while len(self.summary.findings) > SEEN_LIMIT:
            self.summary.findings.popitem(last=False)

    def _range_findings(self) -> list[Finding]:
        """The passive range verdict, once per server, as soon as both kinds of port show."""
        out = []
        for f in self.diagnosis.finish(Trace(captures=(), sessions=())):
            if f.code is not Code.PASSIVE_RANGE_PARTIALLY_FORWARDED:
                continue
            key = (f.code, f.summary.split(":", 1)[0])
            if key not in self._seen:
                out.append(f)
            self._remember(key, f)  # the summary keeps the latest (widest) version
        return out


# --- text ----------------------------------------------------------------------------------


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S")


def _fate(ch: DataChannel) -> str:
    c = ch.connection
    text = ch.outcome.value + (" (inferred)" if ch.inferred else "")
    if c is not None and ch.outcome is Outcome.UNANSWERED:
        text += f" ({c.syn_count} SYN)"
    if c is not None and c.rst is not None:
        text += f" by {c.rst.sender}"
    if c is not None and c.icmp is not None:
        text += f": {c.icmp.kind} from {c.icmp.sender}"
    if ch.outcome is Outcome.ESTABLISHED and ch.bytes:
        text += f", {ch.bytes} bytes"
    return text


def event_lines(ev: Event) -> list[str]:
    """Plain text for the terminal (no colour: the output is often piped or logged)."""
    if isinstance(ev, ChannelEvent):
        s, ch = ev.session, ev.channel
        ann = f"{ch.announced_ip or '(peer)'}:{ch.announced_port}"
        who = "client→server" if ch.passive else "server→client"
        line = (f"{_clock(ev.ts)}  {s.client} → {s.server}  {ch.via} {ann} for {ch.label} "
                f"({who}): {_fate(ch)}")
        if ev.where:
            line += f"  [{ev.where}]"
        return [line, *(_finding_line(f) for f in ev.findings)]
    if isinstance(ev, SessionEvent):
        s = ev.session
        login = {True: "logged in", False: "login refused", None: "no login"}[s.login_ok]
        line = (f"{_clock(ev.ts)}  {s.client} → {s.server}  session ended: user "
                f"{s.user or '—'}, {login}" + (", TLS" if s.tls else ""))
        return [line, *(_finding_line(f) for f in ev.findings)]
    if isinstance(ev, AttemptEvent):
        c = ev.connection
        line = f"{_clock(ev.ts)}  {c.orig} → {c.resp}  control connection: {c.outcome.value}"
        return [line, *(_finding_line(f) for f in ev.findings)]
    return [_finding_line(ev.finding)]


def _finding_line(f: Finding) -> str:
    return f"    {f.severity.value.upper():7} {f.code.value} [{f.where.value}] {f.summary}"


def summary_lines(s: Summary) -> list[str]:
    took = max(0.0, s.ended - s.started)
    out = [f"watched {took:.1f}s: {s.packets} packets, {s.sessions} FTP session(s) ended, "
           f"{sum(s.channels.values())} data channel(s)"
           + (f" ({_counts(s.channels)})" if s.channels else "")]
    if s.attempts:
        out.append(f"control connections that failed: {_counts(s.attempts)}")
    if s.dropped:
        out.append(f"{s.dropped} packets dropped (the link was faster than this process)")
    out += [f"note: {w}" for w in s.warnings]
    findings = sorted(s.findings.values(), key=lambda f: ORDER[f.severity])
    out.append("findings:" if findings else "no problems found")
    out += [_finding_line(f) for f in findings]
    return out


def _counts(c: Counter[str]) -> str:
    return ", ".join(f"{n} {k}" for k, n in c.most_common())


# --- JSON lines ------------------------------------------------------------------------------


def _ep(e: Any) -> dict[str, Any]:
    return {"ip": e.ip, "port": e.port}


def event_dict(ev: Event) -> dict[str, Any]:
    """One JSON object per event (`--json-lines`); the summary is `summary_dict`."""
    base: dict[str, Any] = {"ts": round(ev.ts, 6)}
    if isinstance(ev, ChannelEvent):
        s, ch, c = ev.session, ev.channel, ev.channel.connection
        base |= {
            "event": "channel",
            "client": _ep(s.client), "server": _ep(s.server), "user": s.user,
            "via": ch.via, "passive": ch.passive,
            "announced": {"ip": ch.announced_ip, "port": ch.announced_port},
            "command": ch.command.text if ch.command else None,
            "outcome": ch.outcome.value, "inferred": ch.inferred,
            "connection": None if c is None else {
                "orig": _ep(c.orig), "resp": _ep(c.resp), "syn_count": c.syn_count,
                "rst_from": c.rst.sender if c.rst else None,
                "icmp": c.icmp.kind if c.icmp else None},
            "bytes": ch.bytes, "where": ev.where or None,
        }
    elif isinstance(ev, SessionEvent):
        s = ev.session
        base |= {"event": "session", "client": _ep(s.client), "server": _ep(s.server),
                 "user": s.user, "login_ok": s.login_ok, "tls": s.tls,
                 "commands": len(s.commands)}
    elif isinstance(ev, AttemptEvent):
        c = ev.connection
        base |= {"event": "attempt", "orig": _ep(c.orig), "resp": _ep(c.resp),
                 "outcome": c.outcome.value, "syn_count": c.syn_count}
    else:
        return base | {"event": "finding", **finding_dict(ev.finding)}
    base["findings"] = [finding_dict(f) for f in ev.findings]
    return base


def summary_dict(s: Summary) -> dict[str, Any]:
    return {"event": "summary", "seconds": round(max(0.0, s.ended - s.started), 3),
            "packets": s.packets, "sessions": s.sessions, "channels": dict(s.channels),
            "attempts": dict(s.attempts), "dropped": s.dropped, "warnings": s.warnings,
            "findings": [finding_dict(f) for f in sorted(s.findings.values(),
                                                         key=lambda f: ORDER[f.severity])]}


# --- live ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchOptions:
    ifaces: tuple[str, ...] = ()
    control_ports: frozenset[int] = frozenset({21})
    pcap: Path | None = None
    json_lines: bool = False
    duration: float | None = None
    wait: float = 10.0


BPF = "tcp or icmp or icmp6"
"""Every TCP segment (data ports are announced on the fly) plus ICMP errors."""


def run_watch(opts: WatchOptions, emit: Callable[[str], None],
              stop: threading.Event | None = None,
              started: Callable[[str], None] | None = None) -> Summary:
    """Sniff until Ctrl-C, `stop`, or `duration`; print events as they resolve.

    `started` is told (once every packet socket is open) what is being watched.
    """
    from ftptrace.net.sources import LiveSniffer

    stop = stop or threading.Event()
    label = "live:" + (",".join(opts.ifaces) if opts.ifaces else "all")
    w = Watcher(label, opts.control_ports, wait=opts.wait)
    sniffer = LiveSniffer(list(opts.ifaces) or None, BPF,
                          save_to=opts.pcap, timeout=opts.duration, stop_event=stop)

    from ftptrace.render.terminal import terminal_safe

    def out(ev: Event) -> None:
        if opts.json_lines:
            emit(json.dumps(event_dict(ev), ensure_ascii=False))
        else:
            for line in event_lines(ev):
                emit(terminal_safe(line))  # user names and replies come from the wire

    sniffer.start()
    if started is not None:
        where = ", ".join(opts.ifaces) if opts.ifaces else "every interface"
        started(f"watching {where} for FTP on port(s) "
                f"{','.join(map(str, sorted(opts.control_ports)))} (Ctrl-C for the summary)")
    try:
        for ev in _pump(sniffer, w, stop):
            out(ev)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        sniffer.stop()
    for ev in w.close():
        out(ev)
    w.summary.dropped = sniffer.dropped
    w.summary.warnings = list(sniffer.warnings)
    if opts.json_lines:
        emit(json.dumps(summary_dict(w.summary), ensure_ascii=False))
    else:
        for line in summary_lines(w.summary):
            emit(line)
    return w.summary


def _pump(sniffer: Iterable[Packet], w: Watcher, stop: threading.Event) -> Iterator[Event]:
    """Packets from the sniffer (in a thread) and clock ticks, interleaved."""
    q: queue.Queue[Packet | None] = queue.Queue(maxsize=100_000)

    def reader() -> None:
        try:
            for p in sniffer:
                q.put(p)
        finally:
            q.put(None)

    th = threading.Thread(target=reader, name="ftptrace-watch", daemon=True)
    th.start()
    last = 0.0
    while True:
        try:
            p = q.get(timeout=TICK)
        except queue.Empty:
            pass
        else:
            if p is None:
                return  # the sniffer ended (duration, stop, or its interfaces went away)
            w.feed(p)
        now = time.time()
        if now - last >= TICK:
            last = now
            yield from w.tick(now)
        if stop.is_set() and q.empty():
            return
