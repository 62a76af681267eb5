"""One live probe from start to verdict: watch, log in, open data channels, build the Trace.

The sequence is the field guide's hand check (connect to 21, USER/PASS, PASV or PORT, the
transfer command) with the live sniffer running beside it, keeping the packets of the
target and of every address and port the dialogue brings up. Afterwards each such packet is
fed to the ordinary `TraceBuilder` and diagnosed by the ordinary rules; without root the
socket-level facts are fed instead (see `synth`).

Time budget: `timeout` bounds a *phase*, not a step. The login phase (connect, greeting,
AUTH TLS, USER, PASS, PBSZ/PROT, TYPE) has one deadline `timeout` after it starts, and each
data round (PASV/PORT, data connection, transfer command, transfer) has its own; closing
(QUIT) gets `CLOSE_WAIT`. A per-step deadline let a server that finishes every reply just
inside `timeout` multiply it by the number of steps (slowloris). So a whole run is bounded
by `timeout × (1 + count) + CLOSE_WAIT` plus the tap's `LINGER`.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from ftptrace.diagnose.rules import diagnose
from ftptrace.errors import CaptureError, FtptraceError, PrivilegeError, UsageError
from ftptrace.ftp.events import Direction
from ftptrace.model import CaptureInfo, DataChannel, Outcome, Trace
from ftptrace.net.model import ACK, SYN, Endpoint, Packet, Segment
from ftptrace.net.sources import LiveSniffer
from ftptrace.probe.driver import ControlChannel, ControlClosed, Transcript
from ftptrace.probe.net import ConnectFailed, Network, SocketNetwork, StepTimeout, Stream
from ftptrace.probe.result import DataAttempt, ProbeReport, ProbeResult
from ftptrace.probe.synth import SocketEvent, socket_trace
from ftptrace.probe.target import Credentials, Target
from ftptrace.replay import Analysis
from ftptrace.trace import TraceBuilder, hop_distance

CLOSE_WAIT = 0.25
LINGER = 0.1
"""Seconds the capture goes on after the probe's last step: late RSTs and ICMP errors."""
MODES = ("pasv", "epsv", "port", "eprt")
TRANSFER_COMMANDS = ("LIST", "NLST", "RETR", "STOR")
UPLOAD = b"ftptrace upload test\n" * 48
"""What `--command 'STOR NAME'` sends: ~1 KB of text (the field guide uploads a test file)."""
MAX_READ = 64 << 20
PSH = 0x08

@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeOptions:
    mode: str
    target: Target
    creds: Credentials
    command: tuple[str, str | None] = ("LIST", None)
    count: int = 1
    timeout: float = 5.0
    advertise_ip: str | None = None
    advertise_port: int | None = None
    follow_announced: bool = False
    allow_third_party: bool = False
    iface: str | None = None
    pcap: Path | None = None
    tls: bool = False
    keylog: Path | None = None
    sniff: bool = True

    @property
    def command_text(self) -> str:
        verb, arg = self.command
        return verb if arg is None else f"{verb} {arg}"


def parse_command(text: str) -> tuple[str, str | None]:
    """`LIST`, `NLST`, `RETR FILE`, `STOR FILE` (RFC 959 §4.1.3)."""
    verb, _, arg = text.strip().partition(" ")
    verb = verb.upper()
    if verb not in TRANSFER_COMMANDS:
        raise UsageError(f"--command must be LIST, NLST, RETR FILE or STOR FILE, not {text!r}")
    if verb in ("RETR", "STOR") and not arg.strip():
        raise UsageError(f"--command {verb} needs a file name")
    return verb, (arg.strip() or None)


@dataclass(slots=True)
class ProbeSession:
    """Mutable state of one probe run, shared by the passive and active procedures."""

    opts: ProbeOptions
    net: Network
    transcript: Transcript
    tap: LiveSniffer | None = None
    ctl: ControlChannel = field(init=False)
    events: list[tuple[SocketEvent, bool]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    phase: str = "the login"
    phase_end: float = math.inf

    def begin(self, phase: str) -> None:
        """Start a phase (the login, one data round): all its waits share one deadline,
        `timeout` from now, so a server cannot stretch the run by dripping each reply."""
        self.phase = phase
        self.phase_end = self.net.now() + self.opts.timeout

    def deadline(self) -> float:
        """The current phase's deadline (never later than `timeout` from now)."""
        return min(self.phase_end, self.net.now() + self.opts.timeout)

    def watch(self, ip: str) -> None:
        if self.tap is not None:
            self.tap.watch(ip)

    def socket_event(self, ip: str, port: int, result: str, start: float, *,
                     local: Endpoint | None = None, to_resp: int = 0, to_orig: int = 0,
                     remote: Endpoint | None = None) -> None:
        """Remember what a connect (we are orig) or accept (remote is orig) returned."""
        wall = self.net.wall() - (self.net.now() - start)
        me = local or Endpoint(self.ctl.local, 0)
        if remote is not None:
            ev = SocketEvent(ts=wall, orig=remote, resp=Endpoint(ip, port), result=result,
                             bytes_to_resp=to_resp, bytes_to_orig=to_orig, end_ts=self.net.wall())
            self.events.append((ev, False))
            return
        ev = SocketEvent(ts=wall, orig=me, resp=Endpoint(ip, port), result=result,
                         bytes_to_resp=to_resp, bytes_to_orig=to_orig, end_ts=self.net.wall())
        self.events.append((ev, True))


def transfer(s: ProbeSession, data: Stream, *,
             send_command: bool = True) -> tuple[int, int, str | None, str]:
    """Send the transfer command (unless sent already) and see the transfer through.

    Returns (bytes sent, bytes received, final reply 'code text', problem). Data and control
    are read together, so a 4yz/5yz reply ends the wait at once (RFC 959 §4.2).
    """
    ctl, net, opts = s.ctl, s.net, s.opts
    verb, arg = opts.command
    if send_command:
        ctl.send(verb, arg, s.deadline())
    if opts.tls:
        data.start_tls(opts.target.name, opts.keylog, s.deadline())
    sent = got = 0
    if verb == "STOR":
        data.send(UPLOAD, s.deadline())
        sent = len(UPLOAD)
        data.shutdown_write()
    final = None
    eof = False
    deadline = s.deadline()
    while not (eof and final is not None):
        if final is not None and final.code >= 400:
            break
        if ctl.readable():
            r = ctl.reply(deadline)
            final = r if not r.preliminary else final
            continue
        waiting = [x for x, on in ((data, not eof), (ctl.stream, final is None)) if on]
        ready = net.wait(waiting, deadline)
        if not ready:
            return sent, got, _text(final), \
                f"nothing more before {s.phase}'s {opts.timeout:g}s budget ran out"
        for item in ready:
            if item is data:
                chunk = data.recv(deadline)
                got += len(chunk)
                eof = not chunk or got > MAX_READ
            else:
                r = ctl.reply(deadline)
                final = r if not r.preliminary else final
    return sent, got, _text(final), ""


def _text(r: object) -> str | None:
    code = getattr(r, "code", None)
    if code is None:
        return None
    text = str(getattr(r, "text", "")).split("\n")[0]
    return f"{code} {text}".rstrip()


def _login(s: ProbeSession) -> bool:
    ctl, opts = s.ctl, s.opts
    greet = ctl.final(s.deadline())
    if greet.code != 220:
        return False
    if opts.tls:
        r = ctl.command("AUTH", "TLS", s.deadline())
        if r.code != 234:
            ctl.transcript.problem("the server does not offer explicit FTPS (AUTH TLS)")
            return False
        ctl.start_tls(opts.target.name, opts.keylog, s.deadline())
    r = ctl.command("USER", opts.creds.user, s.deadline())
    if r.code == 331:
        r = ctl.command("PASS", opts.creds.password, s.deadline())
    if r.code not in (230, 202):
        return False
    if opts.tls:
        ctl.command("PBSZ", "0", s.deadline())
        ctl.command("PROT", "P", s.deadline())
    if opts.command[0] in ("RETR", "STOR"):
        ctl.command("TYPE", "I", s.deadline())
    return True


def _open_tap(opts: ProbeOptions, notes: list[str]) -> LiveSniffer | None:
    if not opts.sniff:
        return None
    tap = LiveSniffer(opts.iface, save_to=opts.pcap, hosts=(opts.target.ip,))
    try:
        tap.start()
    except PrivilegeError:
        if opts.pcap is not None:
            notes.append(f"--pcap {opts.pcap}: nothing saved, capturing needs root")
        return None
    except CaptureError as exc:
        notes.append(f"packet tap unavailable ({exc}): socket-level results only")
        return None
    return tap


def run_probe(opts: ProbeOptions, net: Network | None = None) -> ProbeResult:
    """Run one PASV/EPSV/PORT/EPRT probe and diagnose it."""
    from ftptrace.probe.active import active_round
    from ftptrace.probe.passive import passive_round

    if opts.mode not in MODES:
        raise UsageError(f"unknown probe mode {opts.mode!r}")
    if opts.mode == "port" and opts.target.v6:
        raise UsageError("PORT carries only IPv4 addresses (RFC 959 §4.1.2): use `eprt`")
    net = net or SocketNetwork()
    notes: list[str] = []
    s = ProbeSession(opts=opts, net=net, transcript=Transcript(net), notes=notes)
    attempts: list[DataAttempt] = []
    control_failure: str | None = None
    client: Endpoint | None = None
    tap = s.tap = _open_tap(opts, notes)
    started, opened = net.now(), net.wall()
    s.begin("the login")
    try:
        try:
            stream = net.connect(opts.target.ip, opts.target.port, s.deadline())
        except ConnectFailed as exc:
            control_failure = exc.kind
            s.transcript.problem(f"control connection to {opts.target}: {exc.detail}")
        else:
            client = stream.local
            s.ctl = ControlChannel(stream, net, s.transcript)
            s.transcript.note(f"control connection {stream.local} → {stream.peer}")
            try:
                if _login(s):
                    round_fn = passive_round if opts.mode in ("pasv", "epsv") else active_round
                    for i in range(1, opts.count + 1):
                        s.begin(f"data round {i}")
                        attempts.append(round_fn(s, i))
                        if s.ctl.closed:
                            break
                _quit(s)
            except StepTimeout:
                s.transcript.problem(
                    f"no answer within {opts.timeout:g}s: {s.phase} ran out of its time "
                    f"budget (--timeout {opts.timeout:g} covers all its steps together); "
                    "giving up")
            except (ControlClosed, ConnectFailed):
                pass
            finally:
                s.ctl.close()
    finally:
        packets: list[Packet] = []
        if tap is not None:
            tap.stop(linger=LINGER)
            packets = tap.snapshot()
    closed = net.wall()
    trace = _build_trace(s, packets, client, opened, closed, control_failure)
    analysis = Analysis(trace=trace, findings=diagnose(trace))
    attempts = _describe_wire(attempts, trace, tap is not None)
    report = ProbeReport(
        mode=opts.mode, target=str(opts.target), control_port=opts.target.port,
        user=opts.creds.user, credentials_from=opts.creds.source, privileged=tap is not None,
        capture=str(opts.pcap) if tap is not None and opts.pcap is not None else None,
        transcript=tuple(s.transcript.lines), attempts=tuple(attempts),
        notes=tuple(s.notes), needs_root=_needs_root(opts, tap is not None),
        seconds=net.now() - started)
    return ProbeResult(analysis=analysis, report=report)


def _quit(s: ProbeSession) -> None:
    if s.ctl.closed:
        return
    with contextlib.suppress(StepTimeout, ControlClosed, FtptraceError):
        s.ctl.command("QUIT", None, s.net.now() + min(CLOSE_WAIT, s.opts.timeout))


def _build_trace(s: ProbeSession, packets: list[Packet], client: Endpoint | None,
                 opened: float, closed: float, control_failure: str | None) -> Trace:
    opts = s.opts
    ports = frozenset({opts.target.port})
    server = Endpoint(opts.target.ip, opts.target.port)
    if s.tap is not None:
        label = str(opts.pcap) if opts.pcap is not None else f"live:{opts.iface or 'any'}"
        builder = TraceBuilder(CaptureInfo(path=label, vantage="client"), control_ports=ports)
        tls = opts.tls and client is not None and s.ctl.tls
        fed = decrypted_view(packets, client, server, s.ctl.raw) if tls and client else packets
        for p in fed:
            builder.feed(p)
        trace = builder.finish(tuple(s.tap.warnings))
        if tls:
            trace = replace(trace, sessions=tuple(replace(x, tls=True) for x in trace.sessions))
        if trace.sessions or trace.control_attempts:
            return trace
        s.notes.append("the tap saw no packet of the control connection (wrong --iface?): "
                       "showing socket-level results")
    raw = s.ctl.raw if client is not None else []
    return socket_trace(
        label=f"socket:{opts.target.ip}", control_ports=ports, client=client, server=server,
        opened=opened, closed=closed, raw=raw, control_failure=control_failure,
        data=s.events,
        warnings=("no packet capture: TTLs, who sent a reset and ICMP senders are unknown",))


def decrypted_view(packets: list[Packet], client: Endpoint, server: Endpoint,
                   raw: list[tuple[Direction, float, bytes]]) -> list[Packet]:
    """The capture as Wireshark shows it with our TLS key log: the control connection's
    encrypted payload replaced by the plaintext we sent and read.

    The AUTH TLS exchange itself is left out (the session parser would stop reading at
    its 234, RFC 4217 §4); the session is flagged `tls` afterwards so the finding that
    NAT helpers are blind still appears. The sniffed handshake keeps its real TTLs.
    """
    def control(p: Packet) -> bool:
        return type(p) is Segment and {p.src, p.dst} == {client, server}

    hs = [p for p in packets if control(p) and type(p) is Segment and p.flags & SYN]
    syn = next((p for p in hs if p.src == client and not p.flags & ACK), None)
    synack = next((p for p in hs if p.src == server and p.flags & ACK), None)
    if syn is None or synack is None:
        return packets
    out: list[Packet] = [p for p in packets if not control(p) or p is syn or p is synack]
    cseq, sseq = (syn.seq + 1) & 0xFFFFFFFF, (synack.seq + 1) & 0xFFFFFFFF
    skipped_auth = skipped_234 = False
    for direction, ts, data in raw:
        if direction is Direction.TO_SERVER:
            if not skipped_auth and data.upper().startswith(b"AUTH "):
                skipped_auth = True
                continue
            out.append(Segment(ts, 0, client, server, ACK | PSH, cseq, sseq, data, syn.ttl,
                               None))
            cseq = (cseq + len(data)) & 0xFFFFFFFF
        else:
            if skipped_auth and not skipped_234 and data.startswith(b"234"):
                skipped_234 = True
                continue
            out.append(Segment(ts, 0, server, client, ACK | PSH, sseq, cseq, data,
                               synack.ttl, None))
            sseq = (sseq + len(data)) & 0xFFFFFFFF
    return sorted(out, key=lambda p: p.ts)


def _needs_root(opts: ProbeOptions, privileged: bool) -> tuple[str, ...]:
    if privileged:
        return ()
    if opts.mode in ("pasv", "epsv"):
        return ("how many SYNs the data connection sent and whether any answer came back",
                "who sent a reset: the server itself or its router (TTL against the "
                "control connection)",
                "which router sent an ICMP error, and how many hops away it is")
    return ("whether the server's SYN reached this host at all",
            "if it arrived: from which address and source port (20 or not), and whether "
            "this host's own firewall dropped it",
            "if it never arrived: that it died upstream (the server's outbound filter or "
            "a NAT without FTP helper on our side)")


def _channel_for(attempt: DataAttempt, channels: list[DataChannel]) -> DataChannel | None:
    for ch in channels:
        if ch.via == attempt.via and attempt.announced is not None and \
                attempt.announced.endswith(f":{ch.announced_port}"):
            channels.remove(ch)
            return ch
    return None


def _describe_wire(attempts: list[DataAttempt], trace: Trace,
                   privileged: bool) -> list[DataAttempt]:
    if not privileged or not trace.sessions:
        return attempts
    session = trace.sessions[0]
    channels = list(session.data_channels)
    out = []
    for a in attempts:
        ch = _channel_for(a, channels)
        text = wire_text(ch, session.server_ttl, session.client_ttl) if ch else ""
        if ch is not None and ch.connection is not None and a.socket_result == "not-accepted":
            a = replace(a, choice="")  # it did arrive: the "never arrived" guess is moot
        out.append(replace(a, wire=text) if text else a)
    return out


def wire_text(ch: DataChannel, server_ttl: int | None, client_ttl: int | None) -> str:
    """One line on what the packets showed for a data channel (root only)."""
    c = ch.connection
    if c is None:
        if not ch.passive and ch.outcome is not Outcome.NOT_ATTEMPTED:
            return ("no SYN from the server arrived here: it died upstream (the server's "
                    "outbound filter, or a NAT on our side with no FTP helper)")
        return ""
    syns = f"{c.syn_count} SYN" + ("s" if c.syn_count != 1 else "")
    if not ch.passive:
        src = f"from {c.orig}" + ("" if c.orig.port == 20 else " (source port not 20)")
        if c.synack is not None:
            return f"server's SYN arrived {src}, answered by this host"
        if c.syn_count:
            return (f"server's {syns} arrived {src} and this host never answered: dropped by "
                    "the local firewall (iptables -S INPUT, nft list ruleset, ufw status, "
                    "firewall-cmd --list-all)")
        return ""
    if c.synack is not None:
        ttl = f" TTL {c.synack_ttl}" if c.synack_ttl is not None else ""
        return f"{syns} → SYN-ACK from {c.resp}{ttl}"
    if c.rst is not None:
        base = ""
        if server_ttl is not None:
            base = (f", control packets TTL {server_ttl} ({hop_distance(server_ttl)} hops)")
        who = {True: "the server itself", False: "a box on the path, not the server",
               None: "sender unknown"}[c.rst.from_peer]
        return (f"{syns} → RST from {c.rst.sender} TTL {c.rst.ttl} "
                f"({hop_distance(c.rst.ttl)} hops{base}): {who}")
    if c.icmp is not None:
        return (f"{syns} → ICMP {c.icmp.kind} from {c.icmp.sender} TTL {c.icmp.ttl} "
                f"({hop_distance(c.icmp.ttl)} hops away)")
    if c.syn_count:
        return f"{syns}, no answer of any kind"
    return ""
