"""One control connection being rebuilt: FTP events in, commands and expected channels out.

Why apart from the builder: the builder decides which packets belong to which connection
and how long state lives; a draft decides what one FTP dialogue means — which command a
reply answers, which announcement (PORT/PASV/EPRT/EPSV/LPRT/LPSV) expects which data
connection, which connection fits which announcement, and what became of each channel.
The draft calls back into its `TraceBuilder` only for frame references, the expected-channel
table and freezing connections.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ftptrace.ftp.events import (
    Anomaly,
    CommandSent,
    DataChannelAnnounced,
    Event,
    ReplyReceived,
    TlsStarted,
)
from ftptrace.ftp.session import MAX_PENDING, FtpSession
from ftptrace.model import (
    Command,
    DataChannel,
    Expected,
    FrameRef,
    Outcome,
    Reply,
    Session,
    make_command,
    make_data_channel,
    make_reply,
    make_session,
)
from ftptrace.net.model import Endpoint, Segment
from ftptrace.net.reassembly import ConnState

if TYPE_CHECKING:
    from ftptrace.trace import TraceBuilder

TRANSFER_VERBS = frozenset({"LIST", "NLST", "MLSD", "RETR", "STOR", "STOU", "APPE"})
ACTIVE_VERBS = frozenset({"PORT", "EPRT", "LPRT"})
COMPLETED_CODES = frozenset({226, 250})
FAILED_CODES = frozenset({425, 426})
IDLE_SECONDS = 600.0
"""Seconds without a packet after which a session (or a connection) is over."""
EXPECT_SECONDS = 300.0
"""Seconds an announced data channel waits for its connection before it is given up."""
MAX_COMMANDS = 2000
"""Commands kept per session: the first and the last MAX_COMMANDS // 2, so a crafted (or
merely endless) control connection cannot exhaust memory; the rest are counted only."""
MAX_CHANNELS = 2000
"""Data channels kept per session, on the same rule as MAX_COMMANDS."""
MAX_REPLIES = 64
"""Preliminary (1yz) replies kept per command; the final reply is always kept."""
MAX_ANOMALIES = 1000
"""Anomalies kept per session; further ones are counted in one last anomaly."""


@dataclass(slots=True)
class DraftCommand:
    """A command while its replies still arrive (frozen into `model.Command` at the end)."""

    ts: float
    frame: int
    verb: str
    arg: str | None
    replies: list[Reply] = field(default_factory=list)
    frozen: Command | None = field(default=None, repr=False, compare=False)
    """The last `freeze()` result: a transfer command is frozen for its channel and again
    for the session's command list; replies only ever get appended, so while their number
    is unchanged the result is too."""

    def freeze(self, b: TraceBuilder) -> Command:
        """This command as the immutable `model.Command` (built once per state; a rebuild
        keeps the previous one's `FrameRef`)."""
        frozen = self.frozen
        if frozen is None:
            frozen = self.frozen = make_command(
                self.ts, b.ref(self.frame), self.verb, self.arg, tuple(self.replies)
            )
        elif len(frozen.replies) != len(self.replies):
            frozen = self.frozen = make_command(
                self.ts, frozen.ref, self.verb, self.arg, tuple(self.replies)
            )
        return frozen


@dataclass(slots=True)
class DraftChannel:
    """An announced data channel: what it expects, and the connection that matched it."""

    via: str
    passive: bool
    host: str | None
    port: int
    ts: float
    frame: int
    expected: Expected
    announce_cmd: DraftCommand
    announce_reply: Reply | None = None
    command: DraftCommand | None = None
    conn: ConnState | None = None
    matched_by: str | None = None
    rejected: bool = False
    reported: bool = False
    """Live use: already returned by `TraceBuilder.drain_resolved`."""


class SessionDraft:
    """A control connection being rebuilt: the FTP dialogue plus its data channels."""

    def __init__(self, builder: TraceBuilder, conn: ConnState, server_is_resp: bool) -> None:
        self.builder = builder
        self.conn = conn
        self.server_is_resp = server_is_resp
        self.client = conn.orig if server_is_resp else conn.resp
        self.server = conn.resp if server_is_resp else conn.orig
        self.ftp = FtpSession()
        self.commands: list[DraftCommand] = []
        """The first MAX_COMMANDS // 2 commands; the latest ones are in `_tail`."""
        self._tail: deque[DraftCommand] = deque(maxlen=MAX_COMMANDS - MAX_COMMANDS // 2)
        self._cmds_dropped = 0
        self._cmds_dropped_frame = 0
        self.by_seq: dict[int, DraftCommand] = {}
        self.channels: list[DraftChannel] = []
        self._chans_dropped = 0
        self._chans_dropped_frame = 0
        self.current: DraftChannel | None = None
        self.anomalies: list[tuple[FrameRef, str, str]] = []
        self._last_event: ReplyReceived | None = None
        self._last_reply: Reply | None = None
        """The `Reply` built for `_last_event`, the latest `ReplyReceived`: a 227/228/229
        carrying an announcement is needed again right after, by `_announce`."""
        self._anomalies_dropped = 0
        self._anomalies_dropped_frame = 0
        self.tls = False
        to_server = conn.to_resp if server_is_resp else conn.to_orig
        to_client = conn.to_orig if server_is_resp else conn.to_resp
        to_server.deliver = self._from_client
        to_client.deliver = self._from_server
        to_server.on_gap = self._gap
        to_client.on_gap = self._gap

    def _note(self, frame: int, kind: str, detail: str) -> None:
        if len(self.anomalies) < MAX_ANOMALIES:
            self.anomalies.append((self.builder.ref(frame), kind, detail))
        else:
            if not self._anomalies_dropped:
                self._anomalies_dropped_frame = frame
            self._anomalies_dropped += 1

    def _gap(self, lost: int, ts: float, frame: int) -> None:
        self._note(frame, "capture-gap", f"{lost} bytes of the control stream missing")

    def _from_client(self, data: bytes, ts: float, frame: int) -> None:
        """Bytes the client sent, in order (the control stream's `deliver`).

        Nearly every client segment is one command, so `CommandSent` is dispatched here and
        only the rest goes through `_handle`: one call less per control line.
        """
        for ev in self.ftp.from_client(data, ts, frame):
            if type(ev) is CommandSent:
                self._command(ev)
            else:
                self._handle(ev)

    def _from_server(self, data: bytes, ts: float, frame: int) -> None:
        """Bytes the server sent, in order: as `_from_client`, for `ReplyReceived`."""
        for ev in self.ftp.from_server(data, ts, frame):
            if type(ev) is ReplyReceived:
                self._reply(ev)
            else:
                self._handle(ev)

    def _handle(self, ev: Event) -> None:
        """Any event; the stream callbacks above dispatch their usual one (a command from the
        client, a reply from the server) themselves and pass the rarer ones here."""
        if type(ev) is DataChannelAnnounced:
            self._announce(ev)
        elif type(ev) is TlsStarted:
            self.tls = True
            self.builder.encrypted[(self.client.ip, self.server.ip)] = self
            # RFC 4217 §4: no reply can be read any more; the FtpSession dropped its
            # pending commands, so drop their entries too.
            self.by_seq.clear()
        elif type(ev) is Anomaly:
            self._note(ev.frame, ev.kind, ev.detail)
        elif type(ev) is ReplyReceived:
            self._reply(ev)
        elif type(ev) is CommandSent:
            self._command(ev)

    def _command(self, ev: CommandSent) -> None:
        ts, frame, verb, arg, seq = ev
        cmd = DraftCommand(ts, frame, verb, arg)
        if len(self.commands) < MAX_COMMANDS // 2:
            self.commands.append(cmd)
        else:
            tail = self._tail
            if len(tail) == tail.maxlen:
                if not self._cmds_dropped:
                    self._cmds_dropped_frame = tail[0].frame
                self._cmds_dropped += 1
            tail.append(cmd)
        by_seq = self.by_seq
        by_seq[seq] = cmd
        # The FtpSession keeps at most MAX_PENDING unanswered commands and gives up on the
        # oldest first; seqs grow, so the oldest entries here are the ones it gave up on.
        while len(by_seq) > MAX_PENDING:
            del by_seq[next(iter(by_seq))]
        if verb in TRANSFER_VERBS and self.current is not None:
            self.current.command = cmd
            self.current = None

    def _reply(self, ev: ReplyReceived) -> None:
        ts, frame, code, text, sent = ev  # unpacked at once: cheaper than five attributes
        if sent is None:
            return
        cmd = self.by_seq.get(sent.seq)
        if cmd is None:
            return
        # `make_reply`: one Reply per reply line of the capture (see model.py).
        reply = make_reply(code, text, ts, self.builder.ref(frame))
        self._last_event = ev
        self._last_reply = reply
        if code >= 200 or len(cmd.replies) < MAX_REPLIES:  # a final reply is always kept
            cmd.replies.append(reply)
        if cmd.verb in ACTIVE_VERBS:
            for ch in reversed(self.channels):
                if ch.announce_cmd is cmd:
                    ch.announce_reply = reply
                    if code >= 400:
                        # RFC 959 §4.2: 5yz/4yz — the server will not connect to it.
                        ch.rejected = True
                        self.builder.forget(ch)
                        if self.current is ch:
                            self.current = None
                    break
        if code >= 200:  # final (RFC 959 §4.2.1): the command gets no more replies
            del self.by_seq[sent.seq]

    def _announce(self, ev: DataChannelAnnounced) -> None:
        cmd = self.by_seq.get(ev.command.seq)
        if cmd is None:
            cmd = DraftCommand(ev.command.ts, ev.command.frame, ev.command.verb, ev.command.arg)
        if ev.passive:
            # RFC 959 §4.1.2 PASV / RFC 2428 §3 EPSV: the client connects to the server's
            # announced port; EPSV carries no address, so it is the control peer's.
            resp_ip = ev.host if ev.host is not None else self.server.ip
            expected = Expected(orig_ip=self.client.ip, resp_ip=resp_ip, resp_port=ev.port)
        else:
            # RFC 959 §3.2: in active mode the server opens the connection to the PORT address.
            host = ev.host if ev.host is not None else self.client.ip
            expected = Expected(orig_ip=self.server.ip, resp_ip=host, resp_port=ev.port)
        reply = None
        if ev.reply is not None and ev.reply is self._last_event:
            reply = self._last_reply
        elif ev.reply is not None:
            r = ev.reply
            reply = make_reply(r.code, r.text, r.ts, self.builder.ref(r.frame))
        ch = DraftChannel(
            via=ev.via,
            passive=ev.passive,
            host=ev.host,
            port=ev.port,
            ts=ev.ts,
            frame=ev.frame,
            expected=expected,
            announce_cmd=cmd,
            announce_reply=reply,
        )
        self._add_channel(ch)
        self.current = ch
        self.builder.expect(self, ch)

    def _add_channel(self, ch: DraftChannel) -> None:
        """Keep the first and the last MAX_CHANNELS // 2 channels; a dropped one is also
        forgotten by the builder's expected-channel table."""
        chans = self.channels
        if len(chans) >= MAX_CHANNELS:
            old = chans.pop(MAX_CHANNELS // 2)
            if not self._chans_dropped:
                self._chans_dropped_frame = old.frame
            self._chans_dropped += 1
            self.builder.forget(old)
            if self.current is old:
                self.current = None
        chans.append(ch)

    def guess_encrypted_channel(self, seg: Segment) -> DraftChannel:
        """A connection between this session's hosts after AUTH TLS (RFC 4217 §4).

        The PASV/PORT negotiation is encrypted, so the channel is recognised by its hosts
        alone: client → server is passive, server → client active. `matched_by` says so.
        """
        passive = seg.src.ip == self.client.ip
        expected = Expected(orig_ip=seg.src.ip, resp_ip=seg.dst.ip, resp_port=seg.dst.port)
        cmd = DraftCommand(seg.ts, seg.frame, "AUTH", None)
        ch = DraftChannel(
            via="PASV" if passive else "PORT",
            passive=passive,
            host=None,
            port=seg.dst.port,
            ts=seg.ts,
            frame=seg.frame,
            expected=expected,
            announce_cmd=cmd,
            matched_by="hosts",
        )
        self._add_channel(ch)
        return ch

    def match(self, ch: DraftChannel, src: Endpoint, dst: Endpoint) -> str | None:
        """How a new connection src → dst fits channel `ch`: 'endpoint', 'port' or None.

        'port' is for a peer that ignored the announced address and used the control
        connection's instead (curl and ftplib ignore a 227 address; NAT rewrites neither
        227 nor PORT): it still has to run between the two control peers, or any
        connection on that port — the client's HTTPS to an unrelated host when a 227
        names x.x.x.x:443, say (RFC 2577 §3) — would pass for the data channel.
        """
        exp = ch.expected
        if dst.port != exp.resp_port or ch.conn is not None or ch.rejected:
            return None
        if dst.ip == exp.resp_ip and src.ip == exp.orig_ip:
            return "endpoint"
        if ch.passive and src.ip == self.client.ip and dst.ip == self.server.ip:
            return "port"
        if not ch.passive and src.ip == self.server.ip and dst.ip == self.client.ip:
            return "port"
        if dst.ip == exp.resp_ip:
            return "endpoint"
        return None

    def finish(self) -> Session:
        """The immutable `Session`: the whole dialogue and every data channel.

        Runs once per session of a capture, so objects are built by the `model.make_*`
        constructors; commands are frozen before the channels, whose transfer command and
        announcing command then are already frozen (`DraftCommand.freeze`)."""
        b = self.builder
        conn = self.conn
        server_ttl = conn.ttl_resp if self.server_is_resp else conn.ttl_orig
        client_ttl = conn.ttl_orig if self.server_is_resp else conn.ttl_resp
        commands = [c.freeze(b) for c in self.commands]
        if self._tail:
            commands += [c.freeze(b) for c in self._tail]
        finish_channel = self.finish_channel
        channels = tuple([finish_channel(ch, server_ttl, client_ttl) for ch in self.channels])
        if self._cmds_dropped or self._chans_dropped or self._anomalies_dropped:
            anomalies = tuple(self.anomalies) + self._dropped_anomalies()
        else:
            anomalies = tuple(self.anomalies)
        ftp = self.ftp
        return make_session(
            capture=b.capture.path,
            client=self.client,
            server=self.server,
            control=b.connection(conn, None),
            user=ftp.user,
            tls=self.tls or ftp.tls,
            banner=ftp.banner,
            login_ok=ftp.login_ok,
            commands=tuple(commands),
            data_channels=channels,
            anomalies=anomalies,
            server_ttl=server_ttl,
            client_ttl=client_ttl,
        )

    def _dropped_anomalies(self) -> tuple[tuple[FrameRef, str, str], ...]:
        """One last anomaly per limit that was hit (MAX_COMMANDS, MAX_CHANNELS,
        MAX_ANOMALIES), with the first frame that was not kept."""
        b = self.builder
        out: list[tuple[FrameRef, str, str]] = []
        if self._cmds_dropped:
            detail = (
                f"{self._cmds_dropped} commands not kept (limit {MAX_COMMANDS}: "
                f"the first and the last {MAX_COMMANDS // 2} are)"
            )
            out.append((b.ref(self._cmds_dropped_frame), "too-many-commands", detail))
        if self._chans_dropped:
            detail = (
                f"{self._chans_dropped} data channels not kept (limit {MAX_CHANNELS}: "
                f"the first and the last {MAX_CHANNELS // 2} are)"
            )
            out.append((b.ref(self._chans_dropped_frame), "too-many-channels", detail))
        if self._anomalies_dropped:
            detail = f"{self._anomalies_dropped} further anomalies not kept"
            out.append((b.ref(self._anomalies_dropped_frame), "too-many-anomalies", detail))
        return tuple(out)

    def finish_channel(
        self, ch: DraftChannel, server_ttl: int | None, client_ttl: int | None
    ) -> DataChannel:
        """One channel frozen, with its outcome from packets or, failing those, replies."""
        b = self.builder
        baseline = server_ttl if ch.passive else client_ttl
        conn = b.connection(ch.conn, baseline) if ch.conn is not None else None
        command = ch.command.freeze(b) if ch.command is not None else None
        inferred = False
        if ch.rejected:
            outcome = Outcome.NOT_ATTEMPTED
        elif conn is not None and (outcome := conn.outcome) is not Outcome.UNKNOWN:
            pass
        else:
            codes = [r.code for r in command.replies] if command is not None else []
            if any(c in COMPLETED_CODES for c in codes):
                # RFC 959 §4.2: 226/250 after 150/125 — the transfer happened, even if its
                # packets are not in this capture (filtered to port 21, say).
                outcome, inferred = Outcome.ESTABLISHED, True
            elif any(c in FAILED_CODES for c in codes):
                outcome = Outcome.FAILED
            elif any(c >= 450 for c in codes):
                # RFC 959 §4.2: 45x/5yz to the transfer command — the server refused the
                # transfer (missing file, permissions, a server fault), no connection tried.
                outcome = Outcome.NOT_ATTEMPTED
            else:
                outcome = Outcome.UNKNOWN
        # The announcement's frame is the 227/229 reply's (passive) or the PORT/EPRT
        # command's (active), whose FrameRef usually exists already: reuse it.
        reply = ch.announce_reply
        announced = ch.announce_cmd.frozen
        if reply is not None and reply.ref.frame == ch.frame:
            announced_ref = reply.ref
        elif announced is not None and announced.ref.frame == ch.frame:
            announced_ref = announced.ref
        else:
            announced_ref = b.ref(ch.frame)
        return make_data_channel(
            via=ch.via,
            passive=ch.passive,
            announced_ip=ch.host,
            announced_port=ch.port,
            announced_ref=announced_ref,
            announce_reply=reply,
            expected=ch.expected,
            command=command,
            outcome=outcome,
            inferred=inferred,
            connection=conn,
            matched_by=ch.matched_by,
        )
