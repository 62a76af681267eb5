"""PASV/EPSV: ask for a passive port, decide where to connect, open the data connection.

The address decision is the probe's one policy with a security edge. A 227 reply may name
any host; a client that follows it blindly can be turned into a port scanner of third
parties (the FTP bounce, RFC 2577 §3 for PORT, and its passive twin). So by default the
probe connects to the control connection's peer, as curl (`--ftp-skip-pasv-ip`) and
ftplib do, and says what the reply announced. `--follow-announced` uses the address as
written, except a public address that is not the control peer: that needs
`--allow-third-party` on top.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftptrace.diagnose.addresses import is_internal, kind
from ftptrace.probe.net import ConnectFailed, StepTimeout, Stream
from ftptrace.probe.result import DataAttempt
from ftptrace.probe.runner import ProbeSession, transfer


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    ip: str
    note: str = ""
    followed: bool = False
    third_party: bool = False


def choose_data_address(announced: str | None, peer: str, *, follow: bool,
                        allow_third_party: bool) -> Choice:
    """Where to open a passive data connection, and what to tell the user about it."""
    if announced is None:
        return Choice(ip=peer)  # EPSV: the control connection's address (RFC 2428 §3)
    if announced == peer:
        return Choice(ip=peer)
    what = f"{kind(announced)} address {announced}"
    third = not is_internal(announced)
    if kind(announced) == "unspecified":
        return Choice(ip=peer, note=f"the reply announces {announced}, which names no host: "
                                    f"connecting to the control peer {peer}")
    if not follow:
        return Choice(ip=peer, third_party=third,
                      note=f"the reply announces {what}, not the control peer {peer}: "
                           f"connecting to {peer} instead, as curl and ftplib do "
                           "(--follow-announced connects to the address as written)")
    if third and not allow_third_party:
        return Choice(ip=peer, third_party=True,
                      note=f"refusing to follow {what}: a public host other than the server "
                           f"is a third party (FTP bounce, RFC 2577); connecting to {peer} "
                           "instead (--allow-third-party overrides)")
    return Choice(ip=announced, followed=True, third_party=third,
                  note=f"following the announced {what} (--follow-announced)")


def passive_round(s: ProbeSession, index: int) -> DataAttempt:
    """One PASV/EPSV + data connection + transfer command (RFC 959 §4.1.2, RFC 2428 §3)."""
    ctl, opts, net = s.ctl, s.opts, s.net
    verb = "EPSV" if opts.mode == "epsv" else "PASV"
    cmd_text = opts.command_text
    n = len(ctl.announced)
    reply = ctl.command(verb, None, s.deadline())
    if reply.code not in (227, 229) or len(ctl.announced) == n:
        return DataAttempt(index=index, via=verb, command=cmd_text, announced=None, dialed=None,
                           socket_result="skipped",
                           detail=f"{verb} answered {reply.code}: no data address to use")
    ann = ctl.announced[-1]
    announced = f"{ann.host}:{ann.port}" if ann.host else f"(peer):{ann.port}"
    choice = choose_data_address(ann.host, ctl.peer, follow=opts.follow_announced,
                                 allow_third_party=opts.allow_third_party)
    if choice.note:
        ctl.transcript.note(choice.note)
    s.watch(choice.ip)
    dialed = f"[{choice.ip}]:{ann.port}" if ":" in choice.ip else f"{choice.ip}:{ann.port}"
    start = net.now()
    try:
        data: Stream = net.connect(choice.ip, ann.port, s.deadline())
    except ConnectFailed as exc:
        seconds = net.now() - start
        ctl.transcript.problem(f"data connection to {dialed}: {exc.detail}"
                               + (f" after {seconds:.1f}s" if exc.kind == "timeout" else ""))
        s.socket_event(choice.ip, ann.port, exc.kind, start)
        return DataAttempt(index=index, via=verb, command=cmd_text, announced=announced,
                           dialed=dialed, choice=choice.note, socket_result=exc.kind,
                           detail=exc.detail, seconds=seconds)
    ctl.transcript.note(f"data connection {data.local} → {data.peer} established")
    try:
        sent, got, final, problem = transfer(s, data)
    except StepTimeout:
        sent, got, final, problem = 0, 0, None, "no answer in time"
    finally:
        data.close()
    s.socket_event(choice.ip, ann.port, "established", start, local=data.local,
                   to_resp=sent, to_orig=got)
    return DataAttempt(index=index, via=verb, command=cmd_text, announced=announced,
                       dialed=dialed, choice=choice.note, socket_result="established",
                       detail=problem, bytes=sent + got, seconds=net.now() - start,
                       final_reply=final)
