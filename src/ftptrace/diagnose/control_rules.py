"""Rules about the control connection: refused, unanswered or unreachable; TLS; login."""

from __future__ import annotations

from collections.abc import Iterator

from ftptrace.diagnose.addresses import is_internal
from ftptrace.diagnose.findings import Code, Finding, Severity, Where, make_finding
from ftptrace.diagnose.registry import evidence, global_rule, only_if, rule
from ftptrace.model import Outcome, Session, Trace
from ftptrace.trace import hop_distance


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
                yield make_finding(
                    code=Code.CONTROL_REFUSED,
                    severity=Severity.ERROR,
                    where=Where.SERVER_ROUTER,
                    summary=f"control connection from the LAN ({c.orig.ip}) to the public "
                    f"address {target} refused by the router itself (RST, 0 hops)",
                    hint="The router does not loop connections from the LAN back to its own "
                    "public address (no NAT loopback/hairpin). Test from outside, use the "
                    "server's LAN address from inside (or split DNS), or enable NAT loopback.",
                    evidence=evidence(c.syn, c.rst.ref),
                )
                continue
            yield make_finding(
                code=Code.CONTROL_REFUSED,
                severity=Severity.ERROR,
                where=Where.SERVER_HOST if c.rst.from_peer is not False else Where.SERVER_ROUTER,
                summary=f"control connection to {target} refused (RST from {c.rst.sender})",
                hint="Nothing accepts connections on that port: start the FTP server, check it "
                "listens on the right address and port (ss -ltn), and that the router "
                "forwards TCP 21 to it.",
                evidence=evidence(c.syn, c.rst.ref),
            )
        elif c.outcome is Outcome.UNANSWERED:
            yield make_finding(
                code=Code.CONTROL_UNANSWERED,
                severity=Severity.ERROR,
                where=Where.SERVER_ROUTER,
                summary=f"control connection to {target}: {c.syn_count} SYN(s), no answer",
                hint="Port 21 is silently dropped: forward TCP 21 on the server's router, "
                "allow it in the server's firewall, and check the ISP does not block 21.",
                evidence=evidence(c.syn),
            )
        elif c.outcome is Outcome.UNREACHABLE:
            assert c.icmp is not None
            yield make_finding(
                code=Code.CONTROL_UNREACHABLE,
                severity=Severity.ERROR,
                where=Where.INTERNET,
                summary=f"control connection to {target}: ICMP {c.icmp.kind} from {c.icmp.sender}",
                hint="The address is not reachable from here: check the address or name "
                "(dynamic DNS may be stale) and the routing towards it.",
                evidence=evidence(c.syn, c.icmp.ref),
            )


def _tls(s: Session) -> bool:
    return s.tls


@rule
@only_if(_tls)
def encrypted_control(trace: Trace) -> Iterator[Finding]:
    for s in trace.sessions:
        if s.tls:
            yield make_finding(
                code=Code.CONTROL_ENCRYPTED,
                severity=Severity.WARNING,
                where=Where.UNKNOWN,
                summary=f"control connection {s.client} → {s.server} switched to TLS (AUTH TLS)",
                hint="After AUTH TLS no NAT helper can read PORT/PASV: the server must announce "
                "its public address itself and the passive range must be forwarded; "
                "data channels after this point cannot be matched from packets alone.",
                evidence=evidence(*(c.ref for c in s.commands if c.verb == "AUTH")),
            )


def _login_refused(s: Session) -> bool:
    return s.login_ok is False


@rule
@only_if(_login_refused)
def login_failed(trace: Trace) -> Iterator[Finding]:
    for s in trace.sessions:
        if s.login_ok is False:
            bad = [
                c
                for c in s.commands
                if c.verb in {"USER", "PASS"} and c.reply and c.reply.code == 530
            ]
            yield make_finding(
                code=Code.LOGIN_FAILED,
                severity=Severity.ERROR,
                where=Where.SERVER_HOST,
                summary=f"login as {s.user!r} refused by the server (530)",
                hint="Check the user name and password, and the server's login settings "
                "(vsftpd: anonymous_enable / local_enable; the user's shell in /etc/shells).",
                evidence=evidence(*(c.reply.ref for c in bad if c.reply)),
            )
