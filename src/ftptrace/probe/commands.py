"""Use cases behind `ftptrace pasv|epsv|port|eprt|sweep|path` (cli.py stays a thin shell).

Arguments arrive as the user typed them; this module turns them into options, runs the
probe and renders through `render/` (it never imports rich or typer itself).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ftptrace.diagnose.findings import Code, Finding, Severity, Where
from ftptrace.errors import FtptraceError, PrivilegeError, UsageError
from ftptrace.model import CaptureInfo, Trace
from ftptrace.probe.result import ProbeResult, probe_extras, report_lines
from ftptrace.probe.runner import ProbeOptions, parse_command, run_probe
from ftptrace.probe.sweep import ranges
from ftptrace.probe.target import Credentials, Target, credentials, make_target, split_host_port
from ftptrace.replay import Analysis

if TYPE_CHECKING:
    from ftptrace.probe.path import PathResult
    from ftptrace.probe.sweep import SweepResult


class Console(Protocol):
    """What we print through: `render.terminal.make_console()` (rich stays in render/)."""

    def print(self, *objects: Any, **options: Any) -> None: ...


def parse_advertise(text: str | None) -> tuple[str | None, int | None]:
    """`IP`, `IP:PORT`, `[V6]:PORT` or `:PORT` for --advertise."""
    if text is None or not text.strip():
        return None, None
    if text.startswith(":") and text[1:].isdigit():
        port = int(text[1:])
        if not 0 < port < 65536:
            raise UsageError(f"--advertise: port must be 1-65535: {text!r}")
        return None, port
    host, port = split_host_port(text, default_port=0)
    import ipaddress

    try:
        host = ipaddress.ip_address(host).compressed
    except ValueError:
        raise UsageError(f"--advertise needs an IP address, not {host!r}") from None
    return host, (port or None)


def run_live_probe(mode: str, host: str, *, user: str | None, password: str | None,
                   command: str, count: int, timeout: float, advertise: str | None,
                   iface: str | None, pcap: Path | None, tls: bool, keylog: Path | None,
                   follow_announced: bool, allow_third_party: bool,
                   netrc_file: Path | None = None) -> ProbeResult:
    if not 0 < timeout <= 600:
        raise UsageError("--timeout must be between 0 and 600 seconds")
    if not 1 <= count <= 100:
        raise UsageError("--count must be 1-100")
    if keylog is not None and not tls:
        raise UsageError("--keylog needs --tls")
    adv_ip, adv_port = parse_advertise(advertise)
    if advertise is not None and mode not in ("port", "eprt"):
        raise UsageError("--advertise is for port/eprt")
    target = make_target(host, timeout)
    creds = credentials(target, user, password, netrc_file)
    opts = ProbeOptions(mode=mode, target=target, creds=creds, command=parse_command(command),
                        count=count, timeout=timeout, advertise_ip=adv_ip,
                        advertise_port=adv_port, follow_announced=follow_announced,
                        allow_third_party=allow_third_party, iface=iface, pcap=pcap, tls=tls,
                        keylog=keylog)
    return run_probe(opts)


def probe_document(result: ProbeResult) -> dict[str, Any]:
    """The replay document (ftptrace/1) plus the probe's optional keys."""
    from ftptrace.render.json import to_document

    doc = to_document(result.analysis)
    doc.update(probe_extras(result.report))
    return doc


def render_probe(result: ProbeResult, console: Console) -> None:
    """Transcript and probe facts as plain lines, then the shared channel table and findings."""
    from ftptrace.render.terminal import channel_table, finding_block

    for line in report_lines(result.report):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    trace = result.analysis.trace
    for s in trace.sessions:
        if s.data_channels:
            console.print()
            console.print(channel_table(s.data_channels))
    for c in trace.control_attempts:
        console.print(f"control connection {c.orig} → {c.resp}: {c.outcome.value}",
                      markup=False)
    console.print()
    if result.analysis.findings:
        console.print("Findings", style="bold")
        for f in result.analysis.findings:
            console.print(finding_block(f))
    if result.stopped_early is not None:
        console.print(f"No data channel was tried: {result.stopped_early}", style="bold red",
                      markup=False, highlight=False)
    elif not result.analysis.findings:
        console.print("No problems found.", style="green")


# --- crafted probes -------------------------------------------------------------------


def _empty_trace(label: str) -> Trace:
    return Trace(captures=(CaptureInfo(path=label, vantage="client"),), sessions=())


def sweep_findings(r: SweepResult) -> tuple[Finding, ...]:
    """The sweep's verdict in the shared vocabulary (codes, `where`, hint)."""
    from ftptrace.diagnose.rules import RANGE_HINT

    if r.forwarded and r.not_forwarded:
        return (Finding(code=Code.PASSIVE_RANGE_PARTIALLY_FORWARDED, severity=Severity.ERROR,
                        where=Where.SERVER_ROUTER,
                        summary=f"{r.target}: ports {ranges(r.forwarded)} are forwarded, "
                                f"{ranges(r.not_forwarded)} are not",
                        hint=RANGE_HINT + " Make the forwarded range and the server's range "
                                          "identical."),)
    if r.not_forwarded and not r.forwarded:
        silent = all(r.answers[p].kind == "silent" for p in r.not_forwarded)
        code = Code.DATA_SYN_UNANSWERED if silent else Code.DATA_REFUSED
        how = "dropped" if silent else "refused before the server"
        return (Finding(code=code, severity=Severity.ERROR, where=Where.SERVER_ROUTER,
                        summary=f"{r.target}: none of ports {ranges(r.ports)} is forwarded "
                                f"({how})", hint=RANGE_HINT),)
    return ()


def path_findings(r: PathResult) -> tuple[Finding, ...]:
    from ftptrace.diagnose.rules import RANGE_HINT

    if r.reached or r.stopped_at is None:
        return ()
    refused = any(h.ttl == r.stopped_at and h.data.terminal for h in r.hops)
    return (Finding(code=Code.DATA_REFUSED if refused else Code.DATA_SYN_UNANSWERED,
                    severity=Severity.ERROR, where=Where.SERVER_ROUTER
                    if r.stopped_by == r.target else Where.INTERNET,
                    summary=r.verdict, hint=RANGE_HINT),)


@dataclass(frozen=True, slots=True, kw_only=True)
class CraftedResult:
    analysis: Analysis
    lines: tuple[str, ...]
    extras: dict[str, Any]

    @property
    def failed(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.analysis.findings)

    def document(self) -> dict[str, Any]:
        from ftptrace.render.json import to_document

        doc = to_document(self.analysis)
        doc.update(self.extras)
        return doc


def _learn_range(target: Target, creds: Credentials, n: int, timeout: float,
                 ) -> tuple[tuple[int, ...], list[str]]:
    """Log in and send N PASV commands; the ports the server hands out."""
    from ftptrace.probe.driver import ControlChannel, ControlClosed, Transcript
    from ftptrace.probe.net import ConnectFailed, SocketNetwork, StepTimeout

    net = SocketNetwork()
    transcript = Transcript(net)
    try:
        stream = net.connect(target.ip, target.port, net.now() + timeout)
    except ConnectFailed as exc:
        raise FtptraceError(f"control connection to {target}: {exc.detail}") from None
    ctl = ControlChannel(stream, net, transcript)
    ports: list[int] = []
    try:
        ctl.final(net.now() + timeout)
        r = ctl.command("USER", creds.user, net.now() + timeout)
        if r.code == 331:
            r = ctl.command("PASS", creds.password, net.now() + timeout)
        if r.code not in (230, 202):
            raise UsageError(f"login refused ({r.code}): cannot learn the passive range")
        for _ in range(n):
            before = len(ctl.announced)
            ctl.command("PASV", None, net.now() + timeout)
            if len(ctl.announced) > before:
                ports.append(ctl.announced[-1].port)
        with contextlib.suppress(StepTimeout, ControlClosed, FtptraceError):
            ctl.command("QUIT", None, net.now() + min(timeout, 0.5))
    except (StepTimeout, ControlClosed) as exc:
        raise FtptraceError(f"learning the passive range from {target}: {exc}") from None
    finally:
        ctl.close()
    if not ports:
        raise UsageError("the server announced no passive port")
    return tuple(ports), transcript.render()


def run_sweep_command(host: str, *, ports: str | None, from_pasv: int | None, rate: float,
                      wait: float, retries: int, iface: str | None, timeout: float,
                      user: str | None, password: str | None) -> CraftedResult:
    from ftptrace.probe.sweep import parse_ports, run_sweep, sweep_dict, sweep_lines

    if (ports is None) == (from_pasv is None):
        raise UsageError("give either --ports LOW-HIGH or --from-pasv N")
    target = make_target(host, timeout)
    learned: tuple[int, ...] = ()
    transcript: list[str] = []
    if from_pasv is not None:
        if not 1 <= from_pasv <= 100:
            raise UsageError("--from-pasv must be 1-100")
        learned, transcript = _learn_range(target, credentials(target, user, password),
                                           from_pasv, timeout)
        port_list = tuple(range(min(learned), max(learned) + 1))
    else:
        assert ports is not None
        port_list = parse_ports(ports)
    try:
        r = run_sweep(target.ip, port_list, baseline_port=target.port, rate=rate, wait=wait,
                      retries=retries, iface=iface, learned_from=learned)
    except PrivilegeError as exc:
        if not learned:
            raise
        # What could be done without root is still worth saying (in the one error line).
        raise PrivilegeError(f"{exc}; learned without it: the server hands out passive "
                             f"ports {ranges(learned)}") from None
    analysis = Analysis(trace=_empty_trace(f"live:{iface or 'any'}"),
                        findings=sweep_findings(r))
    return CraftedResult(analysis=analysis, lines=tuple(transcript + sweep_lines(r)),
                         extras={"sweep": sweep_dict(r),
                                 "transcript": [{"text": t} for t in transcript]})


def run_path_command(host: str, *, data_port: int, max_hops: int, wait: float,
                     iface: str | None, timeout: float) -> CraftedResult:
    from ftptrace.probe.path import path_dict, path_lines, run_path

    if not 0 < data_port < 65536:
        raise UsageError("--port must be 1-65535")
    target = make_target(host, timeout)
    r = run_path(target.ip, data_port, control_port=target.port, max_hops=max_hops, wait=wait,
                 iface=iface)
    analysis = Analysis(trace=_empty_trace(f"live:{iface or 'any'}"), findings=path_findings(r))
    return CraftedResult(analysis=analysis, lines=tuple(path_lines(r)),
                         extras={"path": path_dict(r)})


def render_crafted(result: CraftedResult, console: Console) -> None:
    from ftptrace.render.terminal import finding_block

    for line in result.lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print()
    if result.analysis.findings:
        console.print("Findings", style="bold")
        for f in result.analysis.findings:
            console.print(finding_block(f))
    else:
        console.print("No problems found.", style="green")
