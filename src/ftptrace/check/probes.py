"""Running the live probes a step needs, and reading their results as step verdicts.

Every step that talks FTP uses the probe's own driver (`probe.runner.run_probe`: the
control-channel loop around the sans-IO session, with a packet tap when root), so a check
step and `ftptrace pasv HOST` see and report exactly the same things.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from ftptrace.diagnose.findings import Code, Finding, Severity
from ftptrace.errors import FtptraceError
from ftptrace.model import Outcome
from ftptrace.probe.driver import ControlChannel, ControlClosed, Transcript
from ftptrace.probe.net import ConnectFailed, Network, StepTimeout
from ftptrace.probe.result import ProbeResult
from ftptrace.probe.runner import ProbeOptions, run_probe
from ftptrace.probe.target import Credentials, Target

CONTROL_KINDS = {Outcome.REFUSED: "refused", Outcome.UNANSWERED: "timeout",
                 Outcome.UNREACHABLE: "unreachable"}
DATA_KINDS = {"refused": "data-refused", "timeout": "data-timeout",
              "unreachable": "data-unreachable", "error": "data-error",
              "not-accepted": "not-accepted", "rejected": "port-rejected",
              "skipped": "no-announcement"}


@dataclass(slots=True)
class Reading:
    """One probe, read as: did the control connection, the login and the data channel work?"""

    result: ProbeResult
    control: bool = False
    banner: str = ""
    login: bool = False
    data: bool = False
    kinds: set[str] = field(default_factory=set)
    """Failure kinds (checklists.Item.kinds) seen in this probe."""
    control_lines: list[str] = field(default_factory=list)
    data_lines: list[str] = field(default_factory=list)
    times: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Seconds to the banner, to the login reply, and for the rest."""

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.result.analysis.findings

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]


def probe(net: Network | None, ip: str, name: str, port: int, creds: Credentials, mode: str,
          command: tuple[str, str | None], timeout: float, sniff: bool) -> Reading:
    target = Target(name=name, ip=ip, port=port)
    if mode == "port" and target.v6:
        mode = "eprt"  # PORT cannot carry IPv6 (RFC 2428 §1)
    opts = ProbeOptions(mode=mode, target=target, creds=creds, command=command,
                        timeout=timeout, sniff=sniff)
    return read(run_probe(opts, net))


def read(r: ProbeResult) -> Reading:
    out = Reading(result=r)
    trace, rep = r.analysis.trace, r.report
    lines = rep.transcript
    start = lines[0].ts if lines else 0.0
    t_banner = t_login = start
    for line in lines:
        text = line.render()
        if line.kind == "received" and line.text.startswith("220") and not out.control:
            out.control, out.banner, t_banner = True, line.text, line.ts
        elif line.kind == "received" and line.text[:3] in ("230", "202") and not out.login:
            out.login, t_login = True, line.ts
        (out.data_lines if out.login else out.control_lines).append(text)
    if out.control and not out.login:
        t_login = lines[-1].ts if lines else start
    end = lines[-1].ts if lines else start
    out.times = (max(0.0, t_banner - start), max(0.0, t_login - t_banner),
                 max(0.0, end - max(t_login, t_banner)))
    if not out.control:
        for c in trace.control_attempts:
            out.kinds.add(CONTROL_KINDS.get(c.outcome, "error"))
        if not out.kinds:
            out.kinds.add("timeout" if any("within" in x or "timed out" in x
                                           for x in out.control_lines) else "error")
        if any(x.kind == "received" for x in lines):
            out.kinds.add("banner")  # something answered, but not with 220
    elif not out.login:
        out.kinds.add("login")
    for a in rep.attempts:
        if a.wire:
            out.data_lines.append(f"  wire: {a.wire}")
        if a.socket_result in ("established", "accepted"):
            code = int(a.final_reply[:3]) if a.final_reply and a.final_reply[:3].isdigit() else 0
            if 200 <= code < 300:
                out.data = True
            else:
                out.kinds.add("transfer")
        else:
            out.kinds.add(DATA_KINDS.get(a.socket_result, "data-error"))
    codes = {f.code for f in r.analysis.findings}
    if Code.PASV_PRIVATE_ADDRESS in codes:
        out.kinds.add("private-address")
    if Code.PORT_REJECTED in codes:
        out.kinds.add("port-rejected")
    return out


def finding_lines(fs: tuple[Finding, ...] | list[Finding]) -> list[str]:
    return [f"{f.severity.value.upper()} {f.code.value} [{f.where.value}]: {f.summary}"
            for f in fs]


def banner_only(net: Network, ip: str, port: int, timeout: float) -> tuple[bool, str, str]:
    """Connect and read the greeting only: (ok, banner or failure kind, detail)."""
    transcript = Transcript(net)
    try:
        stream = net.connect(ip, port, net.now() + timeout)
    except ConnectFailed as exc:
        return False, {"refused": "refused", "timeout": "timeout"}.get(exc.kind, exc.kind), \
            exc.detail
    ctl = ControlChannel(stream, net, transcript)
    try:
        r = ctl.final(net.now() + timeout)
        return r.code == 220, f"{r.code} {r.text.splitlines()[0] if r.text else ''}".strip(), ""
    except (StepTimeout, ControlClosed) as exc:
        return False, "banner", str(exc) or "no greeting"
    finally:
        with contextlib.suppress(StepTimeout, ControlClosed, FtptraceError, OSError):
            ctl.command("QUIT", None, net.now() + 0.5)
        ctl.close()


def delete(net: Network, ip: str, port: int, creds: Credentials, path: str,
           timeout: float) -> tuple[bool, list[str]]:
    """Log in and DELE one file (RFC 959 §4.1.3); the transcript lines come back."""
    transcript = Transcript(net)
    try:
        stream = net.connect(ip, port, net.now() + timeout)
    except ConnectFailed as exc:
        return False, [f"  ! {exc.detail}"]
    ctl = ControlChannel(stream, net, transcript)
    ok = False
    try:
        ctl.final(net.now() + timeout)
        r = ctl.command("USER", creds.user, net.now() + timeout)
        if r.code == 331:
            r = ctl.command("PASS", creds.password, net.now() + timeout)
        if r.code in (230, 202):
            ok = ctl.command("DELE", path, net.now() + timeout).code == 250
        with contextlib.suppress(StepTimeout, ControlClosed, FtptraceError):
            ctl.command("QUIT", None, net.now() + 0.5)
    except (StepTimeout, ControlClosed, FtptraceError) as exc:
        transcript.problem(str(exc))
    finally:
        ctl.close()
    return ok, transcript.render()
