"""Rules about announced data addresses: PASV/EPSV replies and PORT/EPRT commands.

RFC 959 §4.1.2 (PASV, PORT) and RFC 2428 §2–3 (EPRT, EPSV): the address inside the message
is where the data connection goes, so a private address announced across NAT breaks it
unless a helper rewrites it.
"""

from __future__ import annotations

from collections.abc import Iterator

from ftptrace.diagnose.addresses import is_internal, kind
from ftptrace.diagnose.findings import Code, Finding, Severity, Where, make_finding
from ftptrace.diagnose.hints import PASV_HINT
from ftptrace.diagnose.placement import behind_nat
from ftptrace.diagnose.registry import channels, evidence, only_if, rule
from ftptrace.model import Outcome, Session, Trace


def _odd_passive_address(s: Session) -> bool:
    """A passive channel that `passive_address` does not pass over at its first test."""
    peer = s.server.ip
    for ch in s.data_channels:
        ann = ch.announced_ip
        if ch.passive and ann is not None and not (ann == peer and not is_internal(ann)):
            return True
    return False


@rule
@only_if(_odd_passive_address)
def passive_address(trace: Trace) -> Iterator[Finding]:
    for s, ch in channels(trace):
        if not ch.passive or ch.announced_ip is None:
            continue
        ann, peer = ch.announced_ip, s.server.ip
        # The usual case first, without classifying the client's address: clients are many
        # and each new one costs a parse (`kind` caches only so many).
        if ann == peer and not is_internal(ann):
            continue
        client_outside = not is_internal(s.client.ip)
        if ann == peer and not (is_internal(ann) and client_outside):
            continue
        ev = evidence(ch.announced_ref)
        if not is_internal(ann) and is_internal(peer):
            continue  # A NAT-aware server announcing its router's public address: correct.
        if is_internal(ann) and (client_outside or not is_internal(peer)):
            worked = ch.outcome is Outcome.ESTABLISHED
            yield make_finding(
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
            yield make_finding(
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
            yield make_finding(
                code=Code.PASV_ADDRESS_MISMATCH,
                severity=Severity.WARNING,
                where=Where.SERVER_HOST,
                summary=f"{ch.via} reply announces {ann}, control connection reached {peer}",
                hint=PASV_HINT,
                evidence=ev,
            )


def _announces_active(s: Session) -> bool:
    for ch in s.data_channels:  # noqa: SIM110 (a loop: any() would start a generator)
        if not ch.passive and ch.announced_ip is not None:
            return True
    return False


@rule
@only_if(_announces_active)
def active_address(trace: Trace) -> Iterator[Finding]:
    for s, ch in channels(trace):
        if ch.passive or ch.announced_ip is None:
            continue
        if ch.outcome is Outcome.NOT_ATTEMPTED:
            reply = ch.announce_reply
            assert reply is not None
            yield make_finding(
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
                evidence=evidence(ch.announced_ref, reply.ref),
            )
        if behind_nat(s, ch) or (is_internal(ch.announced_ip) and not is_internal(s.server.ip)):
            ok = ch.outcome is Outcome.ESTABLISHED
            yield make_finding(
                code=Code.PORT_PRIVATE_ADDRESS,
                severity=Severity.INFO if ok else Severity.WARNING,
                where=Where.CLIENT_ROUTER,
                summary=f"client announces {kind(ch.announced_ip)} {ch.announced_ip}:"
                f"{ch.announced_port} to a server it reaches at {s.server.ip}"
                + (" (rewritten on the way: the channel worked)" if ok else ""),
                hint="Behind NAT, active mode only works if the client's router rewrites "
                "PORT/EPRT (an FTP helper/ALG) and lets the server's connection in; "
                "otherwise use passive mode.",
                evidence=evidence(ch.announced_ref),
            )
