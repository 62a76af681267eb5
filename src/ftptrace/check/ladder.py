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
import secrets
import socket
import time
from dataclasses import dataclass, field

from ftptrace.check import dns
from ftptrace.check.checklists import checklist
from ftptrace.check.probes import Reading, banner_only, delete, finding_lines, probe
from ftptrace.check.steps import BY_ID, STEPS, Status, StepResult
from ftptrace.diagnose.addresses import is_internal
from ftptrace.diagnose.findings import Finding
from ftptrace.errors import UsageError
from ftptrace.probe.net import Network, SocketNetwork
from ftptrace.probe.target import Credentials, Target, credentials, split_host_port
from ftptrace.replay import Analysis
from ftptrace.trace import merge_traces

TTL_LOW = 60
TTL_HIGH = 3600
SESSION_STEPS = ("login", "pasv-list", "pasv-download", "port-list", "port-download")


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckOptions:
    host: str
    public_ip: str | None = None
    hostname: str | None = None
    upload: bool = False
    upload_dir: str = ""
    user: str | None = None
    password: str | None = None
    timeout: float = 5.0
    file: str = "test.jpg"
    resolver: dns.Resolver | None = None
    network: Network | None = None
    sniff: bool = True


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


def _ep(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


@dataclass(slots=True)
class _Run:
    opts: CheckOptions
    net: Network
    ip: str
    port: int
    standing: str
    name: str = ""
    """HOST as typed, without the port (for messages and ~/.netrc)."""
    results: dict[str, StepResult] = field(default_factory=dict)
    readings: list[Reading] = field(default_factory=list)
    blocked: str = ""
    public: str | None = None
    public_from: str = ""

    def add(self, r: StepResult) -> None:
        self.results[r.id] = r

    def skip(self, step: str, why: str) -> None:
        self.add(StepResult(id=step, status=Status.SKIPPED, summary=why))

    def fail(self, step: str, summary: str, kinds: set[str], *, seconds: float = 0.0,
             target: str | None = None, evidence: list[str] | None = None,
             findings: tuple[Finding, ...] = (), warnings: tuple[str, ...] = ()) -> None:
        self.add(StepResult(id=step, status=Status.FAIL, seconds=seconds, target=target,
                            summary=summary, evidence=tuple(evidence or ()),
                            checklist=tuple(checklist(BY_ID[step].table, kinds)),
                            findings=findings, warnings=warnings))

    def ok(self, step: str, summary: str, *, seconds: float = 0.0, target: str | None = None,
           evidence: list[str] | None = None, warnings: tuple[str, ...] = (),
           findings: tuple[Finding, ...] = ()) -> None:
        self.add(StepResult(id=step, status=Status.PASS, seconds=seconds, target=target,
                            summary=summary, evidence=tuple(evidence or ()),
                            warnings=warnings, findings=findings))

    def probe(self, ip: str, mode: str, command: tuple[str, str | None]) -> Reading:
        creds = credentials_for(self.opts, ip, self.port)
        name = self.name if ip == self.ip and self.name else ip
        r = probe(self.opts.network, ip, name, self.port, creds, mode, command,
                  self.opts.timeout, self.opts.sniff)
        self.readings.append(r)
        return r


def credentials_for(opts: CheckOptions, ip: str, port: int) -> Credentials:
    host = split_host_port(opts.host)[0]
    return credentials(Target(name=host, ip=ip, port=port), opts.user, opts.password)


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
    run = _Run(opts=opts, net=opts.network or SocketNetwork(), ip=ip, port=port,
               standing=standing_of(ip), name=host)
    if opts.public_ip is not None:
        run.public, run.public_from = opts.public_ip, "given with --public-ip"
    elif run.standing == "internet":
        run.public, run.public_from = ip, "the address checked, from outside the LAN"
    _loopback(run)
    _lan(run)
    _session_steps(run)
    _public(run)
    _upload(run)
    _hostname(run, hostname, resolver)
    _hairpin(run)
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


def _loopback(run: _Run) -> None:
    if run.standing != "server":
        run.skip("loopback", "not run on the server (run `ftptrace check 127.0.0.1` there)")
        return
    lo = "::1" if ":" in run.ip else "127.0.0.1"
    r = run.probe(lo, "pasv", ("LIST", None))
    target = _ep(lo, run.port)
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


def _lan(run: _Run) -> None:
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
    target = _ep(run.ip, run.port)
    if ok:
        run.ok("lan", f"{target} answers: {banner}", seconds=run.net.now() - t0,
               target=target)
        return
    run.fail("lan", f"no FTP greeting from {target}: {detail or banner}", {banner},
             seconds=run.net.now() - t0, target=target)
    run.blocked = f"nothing answers FTP at the LAN address {target} (table E2)"


def _session_steps(run: _Run) -> None:
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
    ip, target = run.ip, _ep(run.ip, run.port)
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


def _data_step(run: _Run, step: str, r: Reading, seconds: float | None, target: str) -> None:
    took = seconds if seconds is not None else sum(r.times)
    lines = r.data_lines if r.data_lines else r.control_lines
    if r.data and not r.errors:
        run.ok(step, _data_summary(r), seconds=took, target=target, evidence=lines,
               findings=r.findings)
        return
    summary = _data_summary(r) if r.data else _failure_summary(r)
    kinds = set(r.kinds)
    if "transfer" in kinds and step.endswith("download"):
        summary += f" (is {run.opts.file} in the FTP root? the guide's step 1 puts it there)"
    run.fail(step, summary, kinds, seconds=took, target=target,
             evidence=lines + finding_lines(r.errors), findings=r.findings)


def _data_summary(r: Reading) -> str:
    a = r.result.report.attempts[0] if r.result.report.attempts else None
    if a is None:
        return "no data channel"
    text = f"{a.via} {a.announced or ''} → {a.socket_result}"
    if a.final_reply:
        text += f"; server: {a.final_reply}"
    if r.errors:
        text += f"; but {r.errors[0].code.value}: {r.errors[0].summary}"
    return text


def _failure_summary(r: Reading) -> str:
    if r.errors:
        f = r.errors[0]
        return f"{f.code.value} [{f.where.value}]: {f.summary}"
    return _data_summary(r)


def _public(run: _Run) -> None:
    """Known (given, or the address checked from outside), else learned from a 227 reply
    naming a public address (the server's own idea of it: pasv_address)."""
    announced = [ch.announced_ip for r in run.readings for s in r.result.analysis.trace.sessions
                 for ch in s.data_channels if ch.passive and ch.announced_ip]
    public = [a for a in announced if not is_internal(a)]
    warnings: tuple[str, ...] = ()
    if run.public is None and public:
        run.public, run.public_from = public[0], "announced by the server in its 227 reply"
    if run.public is not None and public and public[0] != run.public:
        warnings = (f"the server announces {public[0]} in its 227 replies, not {run.public}: "
                    "an old pasv_address after an address change?",)
    if run.public is None:
        run.skip("public-address", "unknown: give --public-ip (look it up from outside, not "
                 "through a proxy)")
        return
    run.ok("public-address", f"{run.public} ({run.public_from})", target=run.public,
           warnings=warnings)


def _upload(run: _Run) -> None:
    if not run.opts.upload:
        run.skip("upload", "not asked for (--upload)")
        return
    if run.blocked:
        run.skip("upload", run.blocked)
        return
    modes = [m for m, s in (("pasv", "pasv-list"), ("port", "port-list"))
             if run.results.get(s) is not None and run.results[s].status is Status.PASS]
    if not modes:
        run.skip("upload", "no data connection works in either mode")
        return
    name = f"ftptrace-check-{secrets.token_hex(4)}.txt"
    path = f"{run.opts.upload_dir.rstrip('/')}/{name}" if run.opts.upload_dir else name
    r = run.probe(run.ip, modes[0], ("STOR", path))
    target = _ep(run.ip, run.port)
    if not r.data:
        run.fail("upload", f"STOR {path}: {_failure_summary(r)}", r.kinds | {"denied"},
                 seconds=sum(r.times), target=target, evidence=r.data_lines,
                 findings=r.findings)
        return
    creds = credentials_for(run.opts, run.ip, run.port)
    deleted, lines = delete(run.net, run.ip, run.port, creds, path, run.opts.timeout)
    warnings = () if deleted else (f"uploaded {path} but could not delete it: remove it by "
                                   "hand",)
    run.ok("upload", f"STOR {path} via {modes[0].upper()}" + (" and DELE" if deleted else ""),
           seconds=sum(r.times), target=target, evidence=r.data_lines + lines,
           warnings=warnings)


def _hostname(run: _Run, name: str | None, resolver: dns.Resolver) -> None:
    if name is None:
        run.skip("hostname", "no host name given (--hostname NAME)")
        return
    t0 = time.monotonic()
    res = resolver(name, run.opts.timeout)
    took = time.monotonic() - t0
    evidence = [f"{name} → {', '.join(res.addresses) or 'nothing'} ({res.source}"
                + (f", TTL {res.ttl}s)" if res.ttl is not None else ")")]
    if not res.addresses:
        run.fail("hostname", f"{name} does not resolve" + (f": {res.error}" if res.error
                                                           else ""), {"nxdomain"},
                 seconds=took, evidence=evidence)
        return
    warnings: list[str] = []
    if res.ttl is not None and res.ttl < TTL_LOW:
        warnings.append(f"TTL {res.ttl}s is very low: resolvers may ignore it, and every "
                        "lookup goes to the DNS provider")
    if res.ttl is not None and res.ttl > TTL_HIGH:
        warnings.append(f"TTL {res.ttl}s is high for a dynamic address: after a change the "
                        f"old address stays cached for up to {res.ttl // 60} minutes")
    if run.public is None:
        warnings.append("the global address is unknown (--public-ip): cannot tell whether the "
                        "record is current")
        run.ok("hostname", f"{name} resolves to {', '.join(res.addresses)}", seconds=took,
               evidence=evidence, warnings=tuple(warnings))
        return
    if run.public not in res.addresses:
        run.fail("hostname", f"{name} points at {', '.join(res.addresses)}, but the global "
                 f"address is {run.public}: the record is stale", {"stale"} | (
                     {"ttl"} if warnings else set()), seconds=took, evidence=evidence,
                 warnings=tuple(warnings))
        return
    run.ok("hostname", f"{name} resolves to {run.public}, the global address", seconds=took,
           evidence=evidence, warnings=tuple(warnings))


def _hairpin(run: _Run) -> None:
    if run.standing == "internet":
        run.skip("hairpin", "only meaningful from inside the server's LAN")
        return
    if run.blocked:
        run.skip("hairpin", run.blocked)
        return
    if run.public is None or run.public == run.ip:
        run.skip("hairpin", "the global address is unknown (--public-ip)")
        return
    r = run.probe(run.public, "pasv", ("LIST", None))
    target = _ep(run.public, run.port)
    if r.control and r.login and r.data:
        run.ok("hairpin", f"the router loops {target} back to the server", seconds=sum(r.times),
               target=target, evidence=r.data_lines)
        return
    what = "no control connection" if not r.control else _failure_summary(r)
    run.fail("hairpin", f"{target} from inside the LAN: {what}", r.kinds, seconds=sum(r.times),
             target=target, evidence=r.control_lines + r.data_lines + finding_lines(r.errors),
             findings=r.findings)
