"""PORT/EPRT: listen, announce, ask for a transfer, and watch whether the server comes.

In active mode the *server* opens the data connection (RFC 959 §3.2, §4.1.2 PORT; RFC
2428 §2 EPRT), outbound, whatever the direction of the transfer. Four things can happen,
and the probe tells them apart:

1. the server refuses the command (500/501/522): it will not connect to an address that
   is not the control connection's peer (RFC 2577 §3) — our NAT rewrote nothing;
2. the server's SYN arrives (from which address, from port 20 or not) and is answered;
3. it arrives and this host never answers: our own firewall dropped it (the tap sees a
   packet before netfilter's INPUT chain does);
4. it never arrives: something upstream blocked it — the server's outbound filter, or a
   NAT on our side without an FTP helper. `--advertise` with our public address and a
   forwarded port separates the two.
"""

from __future__ import annotations

from ftptrace.diagnose.addresses import is_internal, kind
from ftptrace.errors import UsageError
from ftptrace.ftp import codec
from ftptrace.probe.net import ConnectFailed, Listener, StepTimeout, Stream
from ftptrace.probe.result import DataAttempt
from ftptrace.probe.runner import ProbeSession, transfer


def announcement(verb: str, ip: str, port: int) -> str:
    """The PORT or EPRT argument (RFC 959 §4.1.2, RFC 2428 §2)."""
    if verb == "PORT":
        if ":" in ip:
            raise UsageError("PORT carries only IPv4 addresses (RFC 959 §4.1.2): use `eprt`")
        return codec.format_port(ip, port)
    return codec.format_eprt(ip, port)


def never_arrived_note(advertised: str, local: str) -> str:
    """Why a server that accepted PORT could not reach us, as precisely as we can say."""
    if is_internal(advertised):
        return (f"we announced the {kind(advertised)} address {advertised}, which the server "
                "can reach only on the same network: behind NAT the client's router must "
                "rewrite PORT (FTP helper) and let the connection in. Use passive mode, or "
                "--advertise PUBLIC_IP:PORT with that port forwarded to this host to test "
                "the server's outbound path alone")
    if advertised != local:
        return (f"the server accepted {advertised} but nothing reached {local}: either the "
                "port is not forwarded to this host by our router, or the server's outbound "
                "connections are blocked (its firewall or its router's egress filter)")
    return ("the server accepted our address but its connection never arrived: the server's "
            "outbound connections are blocked (its firewall or its router's egress filter), "
            "or a firewall in between drops them")


def rejected_note(verb: str, advertised: str, code: int) -> str:
    if is_internal(advertised):
        return (f"the server refused {verb} {advertised} ({code}): servers refuse an address "
                "other than the control connection's peer (RFC 2577 §3), and no NAT helper "
                "on our side rewrote our private address")
    return (f"the server refused {verb} {advertised} ({code}): it does not accept that "
            "address as the control connection's peer (or disables active mode)")


def _first_line(code: int, text: str) -> str:
    """'500 text' from a reply; a server may send a bare code with no text (RFC 959 §4.2)."""
    return f"{code} {(text.splitlines() or [''])[0]}".rstrip()


def active_round(s: ProbeSession, index: int) -> DataAttempt:
    ctl, opts, net = s.ctl, s.opts, s.net
    verb = "EPRT" if opts.mode == "eprt" else "PORT"
    cmd_text = opts.command_text
    local = ctl.local
    advertised = opts.advertise_ip or local
    try:
        listener: Listener = net.listen(local, opts.advertise_port or 0)
    except ConnectFailed as exc:
        ctl.transcript.problem(exc.detail)
        return DataAttempt(index=index, via=verb, command=cmd_text, announced=None, dialed=None,
                           socket_result="skipped", detail=exc.detail)
    try:
        return _round(s, index, verb, cmd_text, listener, advertised)
    finally:
        listener.close()


def _round(s: ProbeSession, index: int, verb: str, cmd_text: str, listener: Listener,
           advertised: str) -> DataAttempt:
    ctl, opts, net = s.ctl, s.opts, s.net
    port = opts.advertise_port or listener.local.port
    if s.tap is not None:
        s.tap.watch_port(listener.local.port)
    dialed = str(listener.local)
    announced = f"[{advertised}]:{port}" if ":" in advertised else f"{advertised}:{port}"
    start = net.now()
    if advertised != ctl.local:
        ctl.transcript.note(f"announcing {advertised} (--advertise); listening on {dialed}")
    reply = ctl.command(verb, announcement(verb, advertised, port), s.deadline())
    if reply.code >= 400:
        note = rejected_note(verb, advertised, reply.code)
        ctl.transcript.problem(note)
        return DataAttempt(index=index, via=verb, command=cmd_text, announced=announced,
                           dialed=dialed, socket_result="rejected", detail=note,
                           final_reply=_first_line(reply.code, reply.text),
                           seconds=net.now() - start)
    ctl.send(*opts.command, s.deadline())
    deadline = s.deadline()
    final = None
    data: Stream | None = None
    while data is None:
        if ctl.readable():
            r = ctl.reply(deadline)
            if not r.preliminary:
                final = r
                break
            continue
        ready = net.wait([listener, ctl.stream], deadline)
        if not ready:
            break
        if listener in ready:
            data = listener.accept(deadline)
        else:
            r = ctl.reply(deadline)
            if not r.preliminary:
                final = r
                break
    if data is None:
        final_text = _first_line(final.code, final.text) if final else None
        waited = net.now() - start
        why = f"the server reported {final_text}" if final_text else \
            f"nothing within {opts.timeout:g}s"
        ctl.transcript.problem(f"no data connection reached {dialed}: {why}")
        return DataAttempt(index=index, via=verb, command=cmd_text, announced=announced,
                           dialed=dialed, socket_result="not-accepted", detail=why,
                           choice=never_arrived_note(advertised, ctl.local),
                           final_reply=final_text, seconds=waited)
    remote = data.peer
    ctl.transcript.note(f"the server connected from {remote} to {data.local}"
                        + ("" if remote.port == 20 else " (source port not 20)"))
    try:
        sent, got, final_text, problem = transfer(s, data, send_command=False)
    except StepTimeout:
        sent, got, final_text, problem = 0, 0, None, "no answer in time"
    finally:
        data.close()
    s.socket_event(data.local.ip, data.local.port, "established", start, remote=remote,
                   to_resp=got, to_orig=sent)
    return DataAttempt(index=index, via=verb, command=cmd_text, announced=announced,
                       dialed=dialed, socket_result="accepted",
                       detail=problem or f"from {remote}", final_reply=final_text,
                       bytes=sent + got, seconds=net.now() - start)
