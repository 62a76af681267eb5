"""Rules about data connections: what became of each one, and where it died."""

from __future__ import annotations

from collections.abc import Iterator

from ftptrace.diagnose.addresses import is_internal
from ftptrace.diagnose.findings import Code, Finding, Severity, Where, make_finding
from ftptrace.diagnose.hints import NAT_PORT_HINT, PASV_HINT, RANGE_HINT
from ftptrace.diagnose.placement import never_arrived, where_active_failed, where_data_died
from ftptrace.diagnose.registry import channels, evidence, only_if, port_list, rule
from ftptrace.model import DataChannel, Outcome, Session, Trace


def _who(ch: DataChannel) -> str:
    """The channel in a summary: 'RETR x via PASV', or 'the PASV channel'."""
    return f"{ch.command.text} via {ch.via}" if ch.command else f"the {ch.via} channel"


def _target(ch: DataChannel) -> str:
    return f"{ch.expected.resp_ip}:{ch.expected.resp_port}"


def _unwell_channel(s: Session) -> bool:
    """A channel other than an established, captured one whose transfer the server accepted:
    the only kind on which `data_failures` finds nothing (never_arrived wants UNKNOWN)."""
    for ch in s.data_channels:
        if ch.outcome is not Outcome.ESTABLISHED or ch.inferred:
            return True
        cmd = ch.command
        if cmd is not None:
            reply = cmd.reply
            if reply is not None and reply.code >= 400:
                return True
    return False


@rule
@only_if(_unwell_channel)
def data_failures(trace: Trace) -> Iterator[Finding]:
    # The channel and its address are worded only for a finding: most channels raise none,
    # and this runs for every channel of every session.
    for s, ch in channels(trace):
        conn = ch.connection
        if ch.outcome is Outcome.REFUSED and conn is not None and conn.rst is not None:
            where = where_data_died(s, ch, conn)
            by = (
                "the peer itself"
                if conn.rst.from_peer
                else ("a box on the path" if conn.rst.from_peer is False else conn.rst.sender)
            )
            yield make_finding(
                code=Code.DATA_REFUSED,
                severity=Severity.ERROR,
                where=where,
                summary=f"data connection for {_who(ch)} to {conn.resp} refused by {by} "
                f"(RST TTL {conn.rst.ttl})",
                hint=(
                    RANGE_HINT
                    if ch.passive
                    else "The client refused the server's connection: let the client's firewall "
                    "accept inbound connections to its data ports, or use passive mode."
                ),
                evidence=evidence(conn.syn, conn.rst.ref),
            )
        elif ch.outcome is Outcome.UNANSWERED and conn is not None:
            where = where_data_died(s, ch, conn)
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
            yield make_finding(
                code=Code.DATA_SYN_UNANSWERED,
                severity=Severity.ERROR,
                where=where,
                summary=f"data connection for {_who(ch)} to {_target(ch)}: "
                f"{conn.syn_count} SYN(s), no answer",
                hint=hint,
                evidence=evidence(conn.syn),
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
            yield make_finding(
                code=Code.DATA_UNREACHABLE,
                severity=Severity.ERROR,
                where=where,
                summary=f"data connection for {_who(ch)} to {conn.resp}: ICMP {icmp.kind} "
                f"from {icmp.sender}",
                hint=PASV_HINT
                if where is Where.SERVER_HOST
                else NAT_PORT_HINT
                if where is Where.CLIENT_ROUTER
                else "A router reports the data address unreachable: check the announced address.",
                evidence=evidence(conn.syn, icmp.ref),
            )
        elif ch.outcome is Outcome.FAILED and not ch.passive:
            reply = ch.command.reply if ch.command else None
            yield make_finding(
                code=Code.ACTIVE_CONNECT_FAILED,
                severity=Severity.ERROR,
                where=where_active_failed(s, ch),
                summary=f"server accepted {ch.via} {_target(ch)} but reported "
                f"{reply.code if reply else '425'}: no connection reached the client here",
                hint="The server could not connect back: its outbound connection is blocked "
                "(server firewall or router egress filter), or the client's NAT has no FTP "
                "helper to forward it. Use passive mode, or allow the server's outbound "
                "data connections and the client's inbound ones.",
                evidence=evidence(ch.announced_ref, reply.ref if reply else None),
            )
        elif ch.outcome is Outcome.FAILED:
            reply = ch.command.reply if ch.command else None
            yield make_finding(
                code=Code.TRANSFER_FAILED,
                severity=Severity.ERROR,
                where=Where.UNKNOWN,
                summary=f"{_who(ch)}: server reported {reply.code if reply else 'failure'}; "
                "no packet of the data connection is in this capture",
                hint="Capture on another vantage point (client and server side) to see where "
                "the data connection died.",
                evidence=evidence(reply.ref if reply else None),
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
            yield make_finding(
                code=Code.TRANSFER_FAILED,
                severity=Severity.ERROR,
                where=Where.SERVER_HOST,
                summary=f"{_who(ch)}: server answered {reply.code} {first}".rstrip()
                + " before opening a data connection",
                hint=hint,
                evidence=evidence(reply.ref),
            )
        if ch.outcome is Outcome.ESTABLISHED and ch.command is not None:
            reply = ch.command.reply
            if reply is not None and reply.code >= 400:
                yield make_finding(
                    code=Code.TRANSFER_FAILED,
                    severity=Severity.WARNING,
                    where=Where.SERVER_HOST,
                    summary=f"{_who(ch)}: connection established but the server replied "
                    f"{reply.code} {reply.text.splitlines()[0] if reply.text else ''}".rstrip(),
                    hint="The network carried the connection; the server refused the transfer "
                    "(permissions, missing file, or vsftpd 'Security: Bad IP connecting' "
                    "when the data connection comes from another address).",
                    evidence=evidence(reply.ref),
                )
        if never_arrived(s, ch):
            yield make_finding(
                code=Code.DATA_NEVER_ARRIVED,
                severity=Severity.WARNING,
                where=Where.SERVER_ROUTER,
                summary=f"{ch.via} announced port {ch.expected.resp_port}, but no connection "
                "to it reached the server (captured on the server itself)",
                hint="If the client tried, its SYN died before the server: " + RANGE_HINT,
                evidence=evidence(ch.announced_ref),
            )
        if ch.inferred:
            yield make_finding(
                code=Code.DATA_NOT_CAPTURED,
                severity=Severity.INFO,
                where=Where.UNKNOWN,
                summary=f"{_who(ch)}: transfer completed per the replies, but its packets are "
                "not in this capture",
                hint="The capture was probably filtered to port 21; capture without a port "
                "filter to see data connections.",
                evidence=evidence(ch.announced_ref),
            )


def _active_connection(s: Session) -> bool:
    for ch in s.data_channels:  # noqa: SIM110 (a loop: any() would start a generator)
        if not ch.passive and ch.connection is not None:
            return True
    return False


@rule
@only_if(_active_connection)
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
            yield make_finding(
                code=Code.ACTIVE_SOURCE_PORT_NOT_20,
                severity=Severity.INFO,
                where=Where.SERVER_HOST,
                summary=f"server {s.server.ip} opens active data connections from port(s) "
                f"{port_list(ports)}, not 20",
                hint="A filter that only lets source port 20 out blocks these; allow the "
                "server's outbound connections (conntrack RELATED with the FTP helper) "
                "or set connect_from_port_20=YES (vsftpd).",
                evidence=evidence(first.connection.syn),
            )
