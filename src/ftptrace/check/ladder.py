"""`ftptrace check HOST`: the field guide's procedure E, run from wherever the user stands.

Where the user stands decides which steps mean something: on the server (HOST is one of
this machine's addresses) the loopback test comes first; on the server's LAN (HOST is a
private address) the LAN steps run and the global address can only be tried as a hairpin;
on the internet (HOST is public) the control port, login and data steps run against the
global address. A step whose precondition failed is skipped with the reason, so the first
failing step is where to look and nothing after it pretends to know more.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass

from ftptrace.check import dns, outer
from ftptrace.check.probes import Reading, banner_only, finding_lines
from ftptrace.check.state import (
    CheckOptions,
    Run,
    credentials_for,
    data_summary,
    ep,
    failure_summary,
)
from ftptrace.check.steps import STEPS, Status, StepResult
from ftptrace.diagnose.addresses import is_internal
from ftptrace.diagnose.findings import Finding
from ftptrace.errors import UsageError
from ftptrace.probe.net import SocketNetwork
from ftptrace.probe.target import split_host_port
from ftptrace.replay import Analysis
from ftptrace.trace import merge_traces

SESSION_STEPS = ("login", "pasv-list", "pasv-download", "port-list", "port-download")


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckReport:
    host: str
    ip: str
    port: int
    standing: str
    """'server', 'lan' or 'internet': where the check ran, relative to the server."""
    public_ip: str | None
    public_from: str
    steps: tuple[StepResult, ...]
    analysis: Analysis
    seconds: float

    @property
    def first_failure(self) -> StepResult | None:
        return next((s for s in self.steps if s.status is Status.FAIL), None)

    @property
    def failed(self) -> bool:
        return self.first_failure is not None


def standing_of(ip: str) -> str:
    addr = ipaddress.ip_address(ip)
    if addr.is_loopback or _is_local(ip):
        return "server"
    return "lan" if is_internal(ip) else "internet"


def _is_local(ip: str) -> bool:
    """Whether `ip` is one of this machine's addresses (bind succeeds only then; no packet)."""
    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.bind((ip, 0))
        return True
    except OSError:
        return False


def run_check(opts: CheckOptions) -> CheckReport:
    """Run the ladder; every step bounded by `opts.timeout` per wait."""
    if not 0 < opts.timeout <= 600:
        raise UsageError("--timeout must be between 0 and 600 seconds")
    started = time.monotonic()
    host, port = split_host_port(opts.host)
    resolver = opts.resolver or dns.resolve
    hostname = opts.hostname
    try:
        ip = ipaddress.ip_address(host).compressed
    except ValueError:
        res = resolver(host, opts.timeout)
        if not res.addresses:
            raise UsageError(f"cannot resolve {host!r}: {res.error or 'no address'}") from None
        ip = res.addresses[0]
        hostname = hostname or host
    if opts.public_ip is not None:
        try:
            ipaddress.ip_address(opts.public_ip)
        except ValueError:
            raise UsageError(f"--public-ip is not an address: {opts.public_ip!r}") from None
    run = Run(opts=opts, net=opts.network or SocketNetwork(), ip=ip, port=port,
               standing=standing_of(ip), name=host)
    if opts.public_ip is not None:
        run.public, run.public_from = opts.public_ip, "given with --public-ip"
    elif run.standing == "internet":
        run.public, run.public_from = ip, "the address checked, from outside the LAN"
    _loopback(run)
    _lan(run)
    _session_steps(run)
    outer.public(run)
    outer.upload(run)
    outer.hostname(run, hostname, resolver)
    outer.hairpin(run)
    steps = tuple(run.results[s.id] for s in STEPS if s.id in run.results)
    traces = [r.result.analysis.trace for r in run.readings]
    seen: dict[tuple[object, ...], Finding] = {}
    for r in run.readings:
        for f in r.findings:
            seen.setdefault((f.code, f.summary), f)
    analysis = Analysis(trace=merge_traces(traces), findings=tuple(seen.values()))
    return CheckReport(host=opts.host, ip=ip, port=port, standing=run.standing,
                       public_ip=run.public, public_from=run.public_from, steps=steps,
                       analysis=analysis, seconds=time.monotonic() - started)


# --- the steps --------------------------------------------------------------------------------


def _loopback(run: Run) -> None:
    if run.standing != "server":
        run.skip("loopback", "not run on the server (run `ftptrace check 127.0.0.1` there)")
        return
    lo = "::1" if ":" in run.ip else "127.0.0.1"
    r = run.probe(lo, "pasv", ("LIST", None))
    target = ep(lo, run.port)
    lines = r.control_lines + r.data_lines
    took = sum(r.times)
    if r.control and r.login and r.data:
        run.ok("loopback", f"logged in and listed the FTP root at {target}", seconds=took,
               target=target, evidence=lines)
        return
    what = ("no control connection" if not r.control else
            "login refused" if not r.login else "the listing failed")
    run.fail("loopback", f"{what} at {target}", r.kinds, seconds=took, target=target,
             evidence=lines + finding_lines(r.errors), findings=r.findings)
    run.blocked = ("the server does not work even on itself (table E1): nothing beyond it "
                   "can work until it does")


def _lan(run: Run) -> None:
    if run.blocked:
        run.skip("lan", run.blocked)
        return
    if run.standing == "internet":
        run.skip("lan", "the LAN address cannot be reached from the internet (run the check "
                 "from a machine of the server's LAN)")
        return
    if ipaddress.ip_address(run.ip).is_loopback:
        run.skip("lan", "no LAN address given (run `ftptrace check LAN-ADDRESS`)")
        return
    t0 = run.net.now()
    ok, banner, detail = banner_only(run.net, run.ip, run.port, run.opts.timeout)
    target = ep(run.ip, run.port)
    if ok:
        run.ok("lan", f"{target} answers: {banner}", seconds=run.net.now() - t0,
               target=target)
        return
    run.fail("lan", f"no FTP greeting from {target}: {detail or banner}", {banner},
             seconds=run.net.now() - t0, target=target)
    run.blocked = f"nothing answers FTP at the LAN address {target} (table E2)"


def _session_steps(run: Run) -> None:
    """Control port (from outside), login, and the four data steps, against the address
    that is meaningful from here: the global address from outside, else HOST."""
    outside = run.standing == "internet"
    if not outside:
        run.skip("control-port", "from inside the LAN the global address tests NAT loopback "
                 "(see the hairpin step), not forwarding: run `ftptrace check GLOBAL-ADDRESS` "
                 "from a machine outside")
    if run.blocked:
        if outside:
            run.skip("control-port", run.blocked)
        for step in SESSION_STEPS:
            run.skip(step, run.blocked)
        return
    ip, target = run.ip, ep(run.ip, run.port)
    first = run.probe(ip, "pasv", ("LIST", None))
    t_ctl, t_login, t_data = first.times
    if outside:
        if not first.control:
            run.fail("control-port", f"no FTP greeting from {target}", first.kinds,
                     seconds=t_ctl, target=target,
                     evidence=first.control_lines + finding_lines(first.errors),
                     findings=first.findings)
            run.blocked = f"no control connection to the global address {target} (table E3)"
        else:
            run.ok("control-port", f"{target} answers: {first.banner}", seconds=t_ctl,
                   target=target)
    elif not first.control:  # the LAN step saw a greeting a moment ago: report, go on
        run.blocked = f"the control connection to {target} failed this time"
    if run.blocked:
        for step in SESSION_STEPS:
            run.skip(step, run.blocked)
        return
    if not first.login:
        run.fail("login", "the server refused the login", {"login"}, seconds=t_login,
                 target=target, evidence=first.control_lines)
        run.blocked = "cannot log in: no data channel can be opened"
        for step in ("pasv-list", "pasv-download", "port-list", "port-download"):
            run.skip(step, run.blocked)
        return
    run.ok("login", f"logged in as {credentials_for(run.opts, ip, run.port).user}",
           seconds=t_login, target=target)
    _data_step(run, "pasv-list", first, t_data, target)
    if "no-announcement" in first.kinds:
        run.skip("pasv-download", "the server gave no passive address")
    else:
        _data_step(run, "pasv-download", run.probe(ip, "pasv", ("RETR", run.opts.file)),
                   None, target)
    port_list = run.probe(ip, "port", ("LIST", None))
    _data_step(run, "port-list", port_list, None, target)
    if "port-rejected" in port_list.kinds:
        run.skip("port-download", "the server refused our PORT/EPRT command")
    else:
        _data_step(run, "port-download", run.probe(ip, "port", ("RETR", run.opts.file)),
                   None, target)


def _data_step(run: Run, step: str, r: Reading, seconds: float | None, target: str) -> None:
    took = seconds if seconds is not None else sum(r.times)
    lines = r.data_lines if r.data_lines else r.control_lines
    if r.data and not r.errors:
        run.ok(step, data_summary(r), seconds=took, target=target, evidence=lines,
               findings=r.findings)
        return
    summary = data_summary(r) if r.data else failure_summary(r)
    kinds = set(r.kinds)
    if "transfer" in kinds and step.endswith("download"):
        summary += f" (is {run.opts.file} in the FTP root? the guide's step 1 puts it there)"
    run.fail(step, summary, kinds, seconds=took, target=target,
             evidence=lines + finding_lines(r.errors), findings=r.findings)


