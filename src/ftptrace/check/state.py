"""What one check run knows while it climbs the ladder: options, results so far, readings.

Kept apart from the step functions so both halves of the ladder (`ladder`: the server and
its LAN; `outer`: the global address, uploads, the name, the hairpin) share one record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ftptrace.check import dns
from ftptrace.check.checklists import checklist
from ftptrace.check.probes import Reading, probe
from ftptrace.check.steps import BY_ID, Status, StepResult
from ftptrace.diagnose.findings import Finding
from ftptrace.probe.net import Network
from ftptrace.probe.target import Credentials, Target, credentials, split_host_port


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


def ep(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


@dataclass(slots=True)
class Run:
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


def data_summary(r: Reading) -> str:
    a = r.result.report.attempts[0] if r.result.report.attempts else None
    if a is None:
        return "no data channel"
    text = f"{a.via} {a.announced or ''} → {a.socket_result}"
    if a.final_reply:
        text += f"; server: {a.final_reply}"
    if r.errors:
        text += f"; but {r.errors[0].code.value}: {r.errors[0].summary}"
    return text


def failure_summary(r: Reading) -> str:
    if r.errors:
        f = r.errors[0]
        return f"{f.code.value} [{f.where.value}]: {f.summary}"
    return data_summary(r)
