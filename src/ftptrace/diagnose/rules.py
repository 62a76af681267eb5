"""One pure rule per failure mode, kept in a registry (mechanism apart from policy, as in
Zeek: the trace builder only reports what it saw; these rules decide what it means).

Placement (`where`) follows the evidence: TTL hop distances tell the end host's packets
from a router's, and a capture whose control packets arrive with zero hops travelled was
taken on that host itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ftptrace.diagnose.addresses import is_internal, kind
from ftptrace.diagnose.findings import Code, Finding, Severity, Where
from ftptrace.model import Connection, DataChannel, FrameRef, Outcome, Session, Trace
from ftptrace.trace import hop_distance

Rule = Callable[[Trace], Iterator[Finding]]
SESSION_RULES: list[Rule] = []
"""Rules that look at one session at a time (called with a one-session Trace)."""
GLOBAL_RULES: list[Rule] = []
"""Rules over what is not a session: control attempts, capture damage."""
_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}

PASV_HINT = (
    "Announce the router's public address in PASV replies (vsftpd: pasv_address=PUBLIC_IP; "
    "proftpd: MasqueradeAddress; pure-ftpd: -P PUBLIC_IP; FileZilla Server: 'Use the "
    "following IP' under Passive mode settings), or use EPSV, which carries no address."
)
RANGE_HINT = (
    "Forward the whole passive range on the server's router (TCP, to the server's LAN "
    "address) and pin the server to it (vsftpd: pasv_min_port/pasv_max_port; proftpd: "
    "PassivePorts; pure-ftpd: -p MIN:MAX; FileZilla Server: custom port range)."
)
NAT_PORT_HINT = (
    "The client is behind NAT and announced its private address; nothing on the way "
    "rewrote it. Use passive mode, or attach the FTP helper on the client's router "
    "(iptables -t raw -A PREROUTING -p tcp --dport 21 -j CT --helper ftp, or the nft "
    "'ct helper' equivalent)."
)


def rule(fn: Rule) -> Rule:
    SESSION_RULES.append(fn)
    return fn


def global_rule(fn: Rule) -> Rule:
    GLOBAL_RULES.append(fn)
    return fn


def _in_order(found: list[Finding]) -> tuple[Finding, ...]:
    return tuple(
        sorted(
            found,
            key=lambda f: (
                _SEVERITY_ORDER[f.severity],
                f.evidence[0].capture if f.evidence else "",
                f.evidence[0].frame if f.evidence else 0,
                f.code,
            ),
        )
    )


class Diagnosis:
    """Findings as sessions complete (bounded memory for any capture size), then the rest.

    Per-session findings come out as soon as a session is over; cross-session facts (the
    passive range) are kept as small per-server port sets and reported by `finish`.
    """

    def __init__(self) -> None:
        self._range = PassiveRange()

    def session(self, s: Session) -> tuple[Finding, ...]:
        one = Trace(captures=(), sessions=(s,))
        self._range.add(s)
        return _in_order([f for r in SESSION_RULES for f in r(one)])

    def finish(self, trace: Trace) -> tuple[Finding, ...]:
        """Global findings for `trace` (its sessions, if any, are not looked at again)."""
        rest = Trace(captures=trace.captures, sessions=(), control_attempts=trace.control_attempts)
        return _in_order([f for r in GLOBAL_RULES for f in r(rest)] + self._range.findings())


def diagnose(trace: Trace) -> tuple[Finding, ...]:
    """Every rule over the trace: each session's findings in session order, then the rest."""
    d = Diagnosis()
    out = [f for s in trace.sessions for f in d.session(s)]
    return (*out, *d.finish(trace))


def _refs(*refs: FrameRef | None) -> tuple[FrameRef, ...]:
    return tuple(r for r in refs if r is not None and r.frame > 0)


def on_host(ttl: int | None) -> bool:
    """Packets that travelled zero hops: the capture was taken on their sender."""
    return ttl is not None and hop_distance(ttl) == 0


def _channels(trace: Trace) -> Iterator[tuple[Session, DataChannel]]:
    for s in trace.sessions:
        for ch in s.data_channels:
            yield s, ch


# --- control connection -------------------------------------------------------------------


@global_rule
def control_failures(trace: Trace) -> Iterator[Finding]:
    for c in trace.control_attempts:
        target = str(c.resp)
        if c.outcome is Outcome.REFUSED:
            assert c.rst is not None
            gateway = (
                hop_distance(c.rst.ttl) == 0
                and is_internal(c.orig.ip)
                and not is_internal(c.resp.ip)
            )
            if gateway:
                # A LAN host dialled the public address and the box one hop away answered:
                # the router that owns that address and does not loop it back (hairpin).
                yield Finding(
                    code=Code.CONTROL_REFUSED,
                    severity=Severity.ERROR,
                    where=Where.SERVER_ROUTER,
                    summary=f"control connection from the LAN ({c.orig.ip}) to the public "
                    f"address {target} refused by the router itself (RST, 0 hops)",
                    hint="The router does not loop connections from the LAN back to its own "
                    "public address (no NAT loopback/hairpin). Test from outside, use the "
                    "server's LAN address from inside (or split DNS), or enable NAT loopback.",
                    evidence=_refs(c.syn, c.rst.ref),
                )
                continue
            yield Finding(
                code=Code.CONTROL_REFUSED,
                severity=Severity.ERROR,
                where=Where.SERVER_HOST if c.rst.from_peer is not False else Where.SERVER_ROUTER,
                summary=f"control connection to {target} refused (RST from {c.rst.sender})",
                hint="Nothing accepts connections on that port: start the FTP server, check it "
                "listens on the right address and port (ss -ltn), and that the router "
                "forwards TCP 21 to it.",
                evidence=_refs(c.syn, c.rst.ref),
            )
        elif c.outcome is Outcome.UNANSWERED:
            yield Finding(
                code=Code.CONTROL_UNANSWERED,
                severity=Severity.ERROR,
                where=Where.SERVER_ROUTER,
                summary=f"control connection to {target}: {c.syn_count} SYN(s), no answer",
                hint="Port 21 is silently dropped: forward TCP 21 on the server's router, "
                "allow it in the server's firewall, and check the ISP does not block 21.",
                evidence=_refs(c.syn),
            )
        elif c.outcome is Outcome.UNREACHABLE:
            assert c.icmp is not None
            yield Finding(
                code=Code.CONTROL_UNREACHABLE,
                severity=Severity.ERROR,
                where=Where.INTERNET,
                summary=f"control connection to {target}: ICMP {c.icmp.kind} from {c.icmp.sender}",
                hint="The address is not reachable from here: check the address or name "
                "(dynamic DNS may be stale) and the routing towards it.",
                evidence=_refs(c.syn, c.icmp.ref),
            )


@rule
def encrypted_control(trace: Trace) -> Iterator[Finding]:
    for s in trace.sessions:
        if s.tls:
            yield Finding(
                code=Code.CONTROL_ENCRYPTED,
                severity=Severity.WARNING,
                where=Where.UNKNOWN,
                summary=f"control connection {s.client} → {s.server} switched to TLS (AUTH TLS)",
                hint="After AUTH TLS no NAT helper can read PORT/PASV: the server must announce "
                "its public address itself and the passive range must be forwarded; "
                "data channels after this point cannot be matched from packets alone.",
                evidence=_refs(*(c.ref for c in s.commands if c.verb == "AUTH")),
            )


@rule
def login_failed(trace: Trace) -> Iterator[Finding]:
    for s in trace.sessions:
        if s.login_ok is False:
            bad = [
                c
                for c in s.commands
                if c.verb in {"USER", "PASS"} and c.reply and c.reply.code == 530
            ]
            yield Finding(
                code=Code.LOGIN_FAILED,
                severity=Severity.ERROR,
                where=Where.SERVER_HOST,
                summary=f"login as {s.user!r} refused by the server (530)",
                hint="Check the user name and password, and the server's login settings "
                "(vsftpd: anonymous_enable / local_enable; the user's shell in /etc/shells).",
                evidence=_refs(*(c.reply.ref for c in bad if c.reply)),
            )


# --- announcements ------------------------------------------------------------------------


@rule
def passive_address(trace: Trace) -> Iterator[Finding]:
    for s, ch in _channels(trace):
        if not ch.passive or ch.announced_ip is None:
            continue
        ann, peer = ch.announced_ip, s.server.ip
        ev = _refs(ch.announced_ref)
        client_outside = not is_internal(s.client.ip)
        if ann == peer and not (is_internal(ann) and client_outside):
            continue
        if not is_internal(ann) and is_internal(peer):
            continue  # A NAT-aware server announcing its router's public address: correct.
        if is_internal(ann) and (client_outside or not is_internal(peer)):
            worked = ch.outcome is Outcome.ESTABLISHED
            yield Finding(
                code=Code.PASV_PRIVATE_ADDRESS,
                severity=Severity.WARNING if worked else Severity.ERROR,
                where=Where.SERVER_HOST,
                summary=f"{ch.via} reply announces {kind(ann)} {ann}:{ch.announced_port} to a "
                f"client at {s.client.ip}"
                + (
                    f" that reached the server at {peer}"
                    if peer != ann
                    else " outside the server's network"
                ),
                hint=PASV_HINT
                + (
                    " It worked here only because a NAT helper rewrote the reply or the client "
                    "ignored the address; TLS on the control channel or a stricter client "
                    "breaks it."
                    if worked
                    else " Clients that trust the reply connect to an address they cannot reach."
                ),
                evidence=ev,
            )
        elif not is_internal(ann) and not is_internal(peer):
            yield Finding(
                code=Code.PASV_THIRD_PARTY,
                severity=Severity.WARNING,
                where=Where.SERVER_HOST,
                summary=f"{ch.via} reply points at a third-party address "
                f"{ann}:{ch.announced_port}, not the server {peer}",
                hint="A reply that sends the client to another public host is either a "
                "misconfigured pasv_address (old public IP) or an FTP bounce attempt; "
                "ftptrace never connects there unless asked.",
                evidence=ev,
            )
        else:
            yield Finding(
                code=Code.PASV_ADDRESS_MISMATCH,
                severity=Severity.WARNING,
                where=Where.SERVER_HOST,
                summary=f"{ch.via} reply announces {ann}, control connection reached {peer}",
                hint=PASV_HINT,
                evidence=ev,
            )


@rule
def active_address(trace: Trace) -> Iterator[Finding]:
    for s, ch in _channels(trace):
        if ch.passive or ch.announced_ip is None:
            continue
        if ch.outcome is Outcome.NOT_ATTEMPTED:
            reply = ch.announce_reply
            assert reply is not None
            yield Finding(
                code=Code.PORT_REJECTED,
                severity=Severity.ERROR,
                where=Where.CLIENT_ROUTER if is_internal(ch.announced_ip) else Where.SERVER_HOST,
                summary=f"server refused {ch.via} {ch.announced_ip}:{ch.announced_port}: "
                f"{reply.code} {reply.text.splitlines()[0] if reply.text else ''}".rstrip(),
                hint="The server will not connect to an address other than the control "
                "connection's peer (vsftpd: port_promiscuous=NO, the safe default). The "
                "client is behind NAT and nothing rewrote its PORT command: use passive "
                "mode, or enable the FTP helper on the client's router "
                "(nf_conntrack_ftp: CT --helper ftp).",
                evidence=_refs(ch.announced_ref, reply.ref),
            )
        if behind_nat(s, ch) or (is_internal(ch.announced_ip) and not is_internal(s.server.ip)):
            ok = ch.outcome is Outcome.ESTABLISHED
            yield Finding(
                code=Code.PORT_PRIVATE_ADDRESS,
                severity=Severity.INFO if ok else Severity.WARNING,
                where=Where.CLIENT_ROUTER,
                summary=f"client announces {kind(ch.announced_ip)} {ch.announced_ip}:"
                f"{ch.announced_port} to a server it reaches at {s.server.ip}"
                + (" (rewritten on the way: the channel worked)" if ok else ""),
                hint="Behind NAT, active mode only works if the client's router rewrites "
                "PORT/EPRT (an FTP helper/ALG) and lets the server's connection in; "
                "otherwise use passive mode.",
                evidence=_refs(ch.announced_ref),
            )


# --- data connections ---------------------------------------------------------------------


def _placement(s: Session, ch: DataChannel, conn: Connection | None) -> Where:
    """Where a data connection that did not establish most likely died."""
    if ch.passive:
        if on_host(s.server_ttl) and conn is not None and conn.syn_count:
            return Where.SERVER_HOST  # the SYN reached the server and it stayed silent
        if conn is not None and conn.rst is not None and conn.rst.from_peer is False:
            return _router_or_internet(conn.rst.ttl, s.server_ttl, Where.SERVER_ROUTER)
        if conn is not None and conn.rst is not None and conn.rst.from_peer:
            return Where.SERVER_HOST
        return Where.SERVER_ROUTER
    if on_host(s.client_ttl) and conn is not None and conn.syn_count:
        return Where.CLIENT_HOST  # the server's SYN reached us; our host dropped it
    if conn is not None and conn.rst is None and on_host(s.server_ttl):
        # Seen leaving the server, never answered: the server's router (egress filter) and
        # the client's firewall look identical from here. Say so rather than guess.
        return Where.UNKNOWN
    if conn is not None and conn.rst is None and client_reachable_directly(s, ch):
        return Where.CLIENT_HOST  # no NAT in front of the client: its own firewall
    if conn is not None and conn.rst is not None and conn.rst.from_peer is False:
        return _router_or_internet(conn.rst.ttl, s.client_ttl, Where.CLIENT_ROUTER)
    if conn is not None and conn.rst is not None and conn.rst.from_peer:
        return Where.CLIENT_HOST
    return Where.CLIENT_ROUTER


def behind_nat(s: Session, ch: DataChannel) -> bool:
    """Active mode: the client announces an internal address its control packets do not
    come from — something between the client and here translated them."""
    ann = ch.announced_ip
    return ann is not None and is_internal(ann) and ann != s.client.ip


def client_reachable_directly(s: Session, ch: DataChannel) -> bool:
    """Active mode: the announced address is the public address the control connection
    comes from, so no NAT sits in front of the client; a drop there is its own host."""
    return ch.announced_ip == s.client.ip and not is_internal(s.client.ip)


def _active_failed_where(s: Session, ch: DataChannel) -> Where:
    """PORT accepted, then 425, and no packet of the attempt here."""
    if behind_nat(s, ch) or is_internal(ch.expected.resp_ip):
        return Where.CLIENT_ROUTER
    if on_host(s.client_ttl) and client_reachable_directly(s, ch):
        # Captured on the client, which has no NAT in front of it, and the server's SYN
        # never showed up here (AF_PACKET sees it before any local firewall): upstream.
        return Where.SERVER_ROUTER
    return Where.UNKNOWN


def _router_or_internet(ttl: int, peer_ttl: int | None, router: Where) -> Where:
    if peer_ttl is None:
        return router
    return router if hop_distance(ttl) == hop_distance(peer_ttl) - 1 else Where.INTERNET


@rule
def data_failures(trace: Trace) -> Iterator[Finding]:
    for s, ch in _channels(trace):
        conn = ch.connection
        who = f"{ch.command.text} via {ch.via}" if ch.command else f"the {ch.via} channel"
        target = f"{ch.expected.resp_ip}:{ch.expected.resp_port}"
        if ch.outcome is Outcome.REFUSED and conn is not None and conn.rst is not None:
            where = _placement(s, ch, conn)
            by = (
                "the peer itself"
                if conn.rst.from_peer
                else ("a box on the path" if conn.rst.from_peer is False else conn.rst.sender)
            )
            yield Finding(
                code=Code.DATA_REFUSED,
                severity=Severity.ERROR,
                where=where,
                summary=f"data connection for {who} to {conn.resp} refused by {by} "
                f"(RST TTL {conn.rst.ttl})",
                hint=(
                    RANGE_HINT
                    if ch.passive
                    else "The client refused the server's connection: let the client's firewall "
                    "accept inbound connections to its data ports, or use passive mode."
                ),
                evidence=_refs(conn.syn, conn.rst.ref),
            )
        elif ch.outcome is Outcome.UNANSWERED and conn is not None:
            where = _placement(s, ch, conn)
            if ch.passive:
                hint = (
                    RANGE_HINT
                    if where is not Where.SERVER_HOST
                    else "The SYN reached the server and got no answer: the server's own "
                    "firewall drops the passive range (iptables/nft INPUT, ufw, firewalld)."
                )
            elif where is Where.UNKNOWN:
                hint = (
                    "The server's SYN left the server and got no answer: either the server's "
                    "router drops outbound data connections (egress filter; allow them, or "
                    "use passive mode) or the client's firewall drops them. Capture on the "
                    "client, or on the server router's WAN side, to tell which "
                    "(ftptrace replay server=… server-router-wan=…)."
                )
            elif where is Where.CLIENT_HOST:
                hint = (
                    "The server's connection reached this host and was dropped here: allow "
                    "inbound TCP to the data port in the local firewall (iptables -S INPUT, "
                    "nft list ruleset, ufw status, firewall-cmd --list-all) or use passive mode."
                )
            else:
                hint = (
                    "The server's connection never got an answer: the client's router has "
                    "no FTP helper (or it is blind), or a firewall drops it; use passive "
                    "mode or enable the helper (CT --helper ftp)."
                )
            yield Finding(
                code=Code.DATA_SYN_UNANSWERED,
                severity=Severity.ERROR,
                where=where,
                summary=f"data connection for {who} to {target}: {conn.syn_count} SYN(s), "
                "no answer",
                hint=hint,
                evidence=_refs(conn.syn),
            )
        elif ch.outcome is Outcome.UNREACHABLE and conn is not None and conn.icmp is not None:
            icmp = conn.icmp
            internal = ch.announced_ip is not None and is_internal(ch.announced_ip)
            if internal and ch.passive:
                where = Where.SERVER_HOST
            elif internal:
                where = Where.CLIENT_ROUTER  # the client's NAT rewrote nothing
            else:
                where = Where.INTERNET
            yield Finding(
                code=Code.DATA_UNREACHABLE,
                severity=Severity.ERROR,
                where=where,
                summary=f"data connection for {who} to {conn.resp}: ICMP {icmp.kind} "
                f"from {icmp.sender}",
                hint=PASV_HINT
                if where is Where.SERVER_HOST
                else NAT_PORT_HINT
                if where is Where.CLIENT_ROUTER
                else "A router reports the data address unreachable: check the announced address.",
                evidence=_refs(conn.syn, icmp.ref),
            )
        elif ch.outcome is Outcome.FAILED and not ch.passive:
            reply = ch.command.reply if ch.command else None
            yield Finding(
                code=Code.ACTIVE_CONNECT_FAILED,
                severity=Severity.ERROR,
                where=_active_failed_where(s, ch),
                summary=f"server accepted {ch.via} {target} but reported "
                f"{reply.code if reply else '425'}: no connection reached the client here",
                hint="The server could not connect back: its outbound connection is blocked "
                "(server firewall or router egress filter), or the client's NAT has no FTP "
                "helper to forward it. Use passive mode, or allow the server's outbound "
                "data connections and the client's inbound ones.",
                evidence=_refs(ch.announced_ref, reply.ref if reply else None),
            )
        elif ch.outcome is Outcome.FAILED:
            reply = ch.command.reply if ch.command else None
            yield Finding(
                code=Code.TRANSFER_FAILED,
                severity=Severity.ERROR,
                where=Where.UNKNOWN,
                summary=f"{who}: server reported {reply.code if reply else 'failure'}; no packet "
                "of the data connection is in this capture",
                hint="Capture on another vantage point (client and server side) to see where "
                "the data connection died.",
                evidence=_refs(reply.ref if reply else None),
            )
        if ch.outcome is Outcome.NOT_ATTEMPTED and ch.command is not None and ch.command.reply:
            reply = ch.command.reply
            first = reply.text.splitlines()[0] if reply.text else ""
            hint = (
                "vsftpd 3.0.3 cannot bind port 20 for an active connection when "
                "port_promiscuous=YES is combined with connect_from_port_20=YES: set "
                "connect_from_port_20=NO, or drop port_promiscuous."
                if "vsf_sysutil_bind" in first
                else "The server refused the transfer before any data connection: check the "
                "file name, permissions and the server's log."
            )
            yield Finding(
                code=Code.TRANSFER_FAILED,
                severity=Severity.ERROR,
                where=Where.SERVER_HOST,
                summary=f"{who}: server answered {reply.code} {first}".rstrip()
                + " before opening a data connection",
                hint=hint,
                evidence=_refs(reply.ref),
            )
        if ch.outcome is Outcome.ESTABLISHED and ch.command is not None:
            reply = ch.command.reply
            if reply is not None and reply.code >= 400:
                yield Finding(
                    code=Code.TRANSFER_FAILED,
                    severity=Severity.WARNING,
                    where=Where.SERVER_HOST,
                    summary=f"{who}: connection established but the server replied "
                    f"{reply.code} {reply.text.splitlines()[0] if reply.text else ''}".rstrip(),
                    hint="The network carried the connection; the server refused the transfer "
                    "(permissions, missing file, or vsftpd 'Security: Bad IP connecting' "
                    "when the data connection comes from another address).",
                    evidence=_refs(reply.ref),
                )
        if (
            ch.passive
            and ch.outcome is Outcome.UNKNOWN
            and ch.connection is None
            and on_host(s.server_ttl)
            and not s.tls
        ):
            yield Finding(
                code=Code.DATA_NEVER_ARRIVED,
                severity=Severity.WARNING,
                where=Where.SERVER_ROUTER,
                summary=f"{ch.via} announced port {ch.expected.resp_port}, but no connection "
                "to it reached the server (captured on the server itself)",
                hint="If the client tried, its SYN died before the server: " + RANGE_HINT,
                evidence=_refs(ch.announced_ref),
            )
        if ch.inferred:
            yield Finding(
                code=Code.DATA_NOT_CAPTURED,
                severity=Severity.INFO,
                where=Where.UNKNOWN,
                summary=f"{who}: transfer completed per the replies, but its packets are not in "
                "this capture",
                hint="The capture was probably filtered to port 21; capture without a port "
                "filter to see data connections.",
                evidence=_refs(ch.announced_ref),
            )


class PassiveRange:
    """Per server: passive ports that worked and ports that failed, across sessions."""

    def __init__(self) -> None:
        self.by_server: dict[str, tuple[set[int], set[int], list[FrameRef]]] = {}

    def add(self, s: Session) -> None:
        for ch in s.data_channels:
            never_arrived = (
                ch.passive
                and ch.connection is None
                and ch.outcome is Outcome.UNKNOWN
                and on_host(s.server_ttl)
                and not s.tls
            )
            if not ch.passive or ch.inferred or (ch.connection is None and not never_arrived):
                continue
            ok, bad, refs = self.by_server.setdefault(ch.expected.resp_ip, (set(), set(), []))
            if ch.outcome is Outcome.ESTABLISHED:
                ok.add(ch.expected.resp_port)
            elif ch.outcome in (Outcome.REFUSED, Outcome.UNANSWERED) or never_arrived:
                bad.add(ch.expected.resp_port)
                if len(refs) < 10:
                    refs.extend(_refs(ch.connection.syn if ch.connection else ch.announced_ref))

    def findings(self) -> list[Finding]:
        out = []
        for server, (ok, bad, refs) in sorted(self.by_server.items()):
            if ok and bad:
                out.append(
                    Finding(
                        code=Code.PASSIVE_RANGE_PARTIALLY_FORWARDED,
                        severity=Severity.ERROR,
                        where=Where.SERVER_ROUTER,
                        summary=f"passive ports of {server}: {_ports(ok)} work, {_ports(bad)} "
                        f"fail — the router likely forwards only {min(ok)}-{max(ok)}",
                        hint=RANGE_HINT + " Make the forwarded range and the server's range "
                        "identical.",
                        evidence=tuple(refs[:10]),
                    )
                )
        return out


def _ports(ports: set[int]) -> str:
    s = sorted(ports)
    return ", ".join(map(str, s)) if len(s) <= 6 else f"{len(s)} ports {s[0]}..{s[-1]}"


@rule
def active_source_port(trace: Trace) -> Iterator[Finding]:
    for s in trace.sessions:
        ports = {
            ch.connection.orig.port
            for ch in s.data_channels
            if not ch.passive and ch.connection is not None
        }
        if ports and 20 not in ports:
            first = next(ch for ch in s.data_channels if not ch.passive and ch.connection)
            assert first.connection is not None
            yield Finding(
                code=Code.ACTIVE_SOURCE_PORT_NOT_20,
                severity=Severity.INFO,
                where=Where.SERVER_HOST,
                summary=f"server {s.server.ip} opens active data connections from port(s) "
                f"{_ports(ports)}, not 20",
                hint="A filter that only lets source port 20 out blocks these; allow the "
                "server's outbound connections (conntrack RELATED with the FTP helper) "
                "or set connect_from_port_20=YES (vsftpd).",
                evidence=_refs(first.connection.syn),
            )


@rule
def anomalies(trace: Trace) -> Iterator[Finding]:
    for s in trace.sessions:
        seen: set[str] = set()
        for ref, kind_, detail in s.anomalies:
            if kind_ in seen:
                continue
            seen.add(kind_)
            yield Finding(
                code=Code.PROTOCOL_ANOMALY,
                severity=Severity.WARNING,
                where=Where.UNKNOWN,
                summary=f"{s.client} → {s.server}: {kind_}: {detail}",
                hint="The control dialogue is not well-formed here; findings that depend on "
                "it may be incomplete.",
                evidence=_refs(ref),
            )


@global_rule
def damaged_captures(trace: Trace) -> Iterator[Finding]:
    for cap in trace.captures:
        for w in cap.warnings:
            yield Finding(
                code=Code.CAPTURE_DAMAGED,
                severity=Severity.WARNING,
                where=Where.UNKNOWN,
                summary=f"{cap.path}: {w}",
                hint="Results cover only the packets that could be read.",
            )


def passive_range(trace: Trace) -> Iterator[Finding]:
    """PASSIVE_RANGE_PARTIALLY_FORWARDED over a whole trace at once (see `PassiveRange`)."""
    acc = PassiveRange()
    for s in trace.sessions:
        acc.add(s)
    yield from acc.findings()
