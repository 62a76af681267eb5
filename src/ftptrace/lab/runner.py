"""`Lab`: build one scenario's world, run things inside it, and always tear it down.

    with Lab("pasv-ok") as lab:
        r = lab.exec("client", ["curl", "ftp://198.51.100.2/"], timeout=10)

Teardown is guaranteed on normal exit, on exceptions, on Ctrl-C and on SIGTERM (turned
into `KeyboardInterrupt` while a lab is open in the main thread). `run_scenario()` is the
whole use case behind `ftptrace lab run`: build, capture at every vantage, run the real
client, stop the captures, tear down, and report what happened as a `LabRun`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType

from ftptrace.errors import LabError, PrivilegeError
from ftptrace.lab import netfilter as nf
from ftptrace.lab import netns, servers
from ftptrace.lab import topology as t
from ftptrace.lab.capture import Capture, vantages
from ftptrace.lab.clients import (
    HARD_TIMEOUT,
    ClientJob,
    ClientKind,
    Mode,
    client_argv,
    mask_secrets,
)
from ftptrace.lab.scenarios import Scenario, get
from ftptrace.lab.state import LabState
from ftptrace.lab.topology import ClientSite, Host

SETTLE = 0.3
"""Seconds to let the last FINs/RSTs/ICMPs reach every capture before stopping tcpdump."""


def require_root() -> None:
    if os.geteuid() != 0:
        raise PrivilegeError("the lab needs root (network namespaces, netfilter, tcpdump)")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    elapsed: float
    timed_out: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class LabRun:
    """What one scenario run did, measured (compare `scenario.expect`)."""

    scenario: Scenario
    client: ClientKind
    mode: Mode
    server: str
    result: ExecResult
    captures: dict[str, Path] = field(default_factory=dict)
    server_log: str = ""

    @property
    def succeeded(self) -> bool:
        return self.result.returncode == 0 and not self.result.timed_out

    @property
    def as_expected(self) -> bool:
        return self.succeeded == self.scenario.expect.client_succeeds

    @property
    def summary(self) -> str:
        r = self.result
        what = (
            "succeeded"
            if self.succeeded
            else ("timed out" if r.timed_out else f"failed (exit {r.returncode})")
        )
        line = f"{self.client} {self.mode} to {self.scenario.dial}: {what} in {r.elapsed:.2f}s"
        last = "" if self.succeeded else _last_words(r)
        return f"{line} — {last}" if last else line


_REPLY_RE = re.compile(r"^(?:< |<--- |\*(?:resp|get)\* ')([45]\d\d[ -][^']*)")
"""A 4xx/5xx server reply in curl -v (`< `), lftp -d (`<--- `) or ftplib debug output."""


def _last_words(r: ExecResult) -> str:
    """The client's last complaint and the server's last refusal, for one-line summaries.

    Both are needed: curl 7.88 reports an unrelated `inet_ntop()` warning as its error after
    a failed PORT, while the server's "500 Illegal PORT command." says what really happened.
    """
    complaint = reply = ""
    for text in (r.stderr, r.stdout):
        for line in text.strip().splitlines():
            line = line.strip()
            m = _REPLY_RE.match(line)
            if m:
                reply = m.group(1).strip()
            elif line.startswith(("curl: (", "FAILED", "get: ", "lftp: ")) or " failed" in line:
                complaint = line
    if reply and complaint:
        return f"{complaint[:120]} (server: {reply[:80]})"
    return (complaint or reply)[:160]


class _Interrupted(KeyboardInterrupt):
    """SIGTERM, delivered as an interrupt so every `with Lab()` unwinds and tears down."""


class Lab:
    """One scenario's namespaces, netfilter rules and FTP server, owned by this process."""

    def __init__(
        self,
        scenario: Scenario | str,
        *,
        server: str | None = None,
        prefix: str | None = None,
        persistent: bool = False,
    ) -> None:
        require_root()
        self.scenario = get(scenario) if isinstance(scenario, str) else scenario
        self.server_kind = servers.pick_kind(server)
        self.prefix = prefix or t.new_prefix()
        if not t.PREFIX_RE.match(self.prefix):
            raise LabError(f"bad lab prefix {self.prefix!r} (want ft + 4 hex digits + '-')")
        self.plan = t.plan(self.scenario.site)
        self.persistent = persistent
        self.workdir = Path(tempfile.mkdtemp(prefix=f"ftptrace-lab-{self.prefix}"))
        self.server_proc: subprocess.Popen[bytes] | None = None
        self._sigterm: contextlib.AbstractContextManager[None] | None = None
        self.state = LabState(
            prefix=self.prefix,
            scenario=self.scenario.name,
            owner_pid=os.getpid(),
            persistent=persistent,
            workdir=str(self.workdir),
            server=self.server_kind.value,
            dial=self.scenario.dial,
            created=time.time(),
            namespaces={h.value: self.netns(h) for h in self.plan.hosts},
        )

    # -- names and addresses ------------------------------------------------------------
    def netns(self, host: Host | str) -> str:
        """The namespace of a lab host (`ip netns exec NAME …`)."""
        try:
            h = Host(host)
        except ValueError:
            raise LabError(f"no host {host!r}: {', '.join(x.value for x in Host)}") from None
        if h not in self.plan.hosts:
            raise LabError(
                f"this lab has no host {h.value!r} (hosts: "
                f"{', '.join(x.value for x in self.plan.hosts)})"
            )
        return t.netns_name(self.prefix, h)

    @property
    def client_host(self) -> Host:
        """Where the scenario's client runs (the LAN client, or the server itself)."""
        site = self.scenario.site
        if site is ClientSite.LAN:
            return Host.LAN_CLIENT
        if site is ClientSite.SERVER:
            return Host.SERVER
        return Host.CLIENT

    @property
    def dial(self) -> str:
        """The address the scenario's client dials for the FTP server."""
        return self.scenario.dial

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> Lab:
        self._sigterm = sigterm_as_interrupt()
        self._sigterm.__enter__()
        try:
            self.build()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.teardown()

    def build(self) -> None:
        """Namespaces, links, rules, then the FTP server (listening before this returns)."""
        require_root()
        self.state.save()
        netns.build(self.prefix, self.plan)
        sc = self.scenario
        nf.apply(self.netns(Host.SERVER_ROUTER), nf.server_router(sc.server_router))
        if Host.CLIENT_ROUTER in self.plan.hosts:
            nf.apply(self.netns(Host.CLIENT_ROUTER), nf.client_router(sc.client_router))
        if sc.client_firewall is not None:
            nf.apply(self.netns(self.client_host), nf.host_firewall(sc.client_firewall))
        if sc.server_firewall is not None:
            nf.apply(self.netns(Host.SERVER), nf.host_firewall(sc.server_firewall))
        argv = servers.server_argv(self.server_kind, sc.server, self.workdir)
        self.server_proc = servers.start(self.netns(Host.SERVER), argv, self.workdir)
        netns.wait_ready(self.prefix, self.plan)
        self.state.server_pid = self.server_proc.pid
        self.state.save()

    def teardown(self) -> None:
        """Idempotent: server, namespaces, workdir, state file; restores SIGTERM handling."""
        try:
            if self.server_proc is not None:
                servers.stop(self.server_proc)
                self.server_proc = None
            netns.teardown(self.prefix)
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.state.remove()
        finally:
            if self._sigterm is not None:
                self._sigterm.__exit__(None, None, None)
                self._sigterm = None

    def detach(self) -> None:
        """Leave the lab running after this process exits (`lab up`)."""
        self.state.persistent = True
        self.state.save()
        self.server_proc = None

    # -- running things inside ------------------------------------------------------------
    def exec(
        self, host: Host | str, argv: Sequence[str], timeout: float, *, stdin: str | None = None
    ) -> ExecResult:
        """Run `argv` inside a host's namespace; killed (whole process group) at `timeout`."""
        cmd = ["ip", "netns", "exec", self.netns(host), *argv]
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        timed_out = False
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate(timeout=5)
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
            raise
        return ExecResult(
            argv=tuple(argv),
            returncode=proc.returncode,
            stdout=out or "",
            stderr=err or "",
            elapsed=time.monotonic() - start,
            timed_out=timed_out,
        )

    def capture(self, out_dir: Path) -> Capture:
        """A (not yet started) capture at every vantage point of this lab."""
        ns = {h: self.netns(h) for h in self.plan.hosts}
        return Capture(ns, vantages(self.scenario.site), out_dir)

    def run_client(self, client: ClientKind | None = None, mode: Mode | None = None) -> ExecResult:
        """Run the scenario's client (or another one / another mode) inside the lab."""
        job = client_job(self.scenario, client, mode, self.workdir / "download")
        r = self.exec(self.client_host, client_argv(job), timeout=HARD_TIMEOUT)
        return ExecResult(
            argv=r.argv,
            returncode=r.returncode,
            stdout=mask_secrets(r.stdout),
            stderr=mask_secrets(r.stderr),
            elapsed=r.elapsed,
            timed_out=r.timed_out,
        )

    def server_log(self) -> str:
        for name in ("vsftpd.log", "pyftpdlib.log", "server.out"):
            p = self.workdir / name
            if p.exists() and p.stat().st_size:
                return mask_secrets(p.read_text(errors="replace"))
        return ""


def client_job(
    sc: Scenario, client: ClientKind | None, mode: Mode | None, out: Path
) -> ClientJob:
    return ClientJob(
        kind=client or sc.client,
        mode=mode or sc.mode,
        host=sc.dial,
        file=sc.file,
        transfers=sc.transfers,
        trust_pasv=sc.trust_pasv,
        tls=sc.tls,
        out=out,
    )


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Interrupted()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises KeyboardInterrupt in the main thread (so `finally`
    blocks and teardowns run); elsewhere, or outside the main thread, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_scenario(
    name: str | Scenario,
    client: ClientKind | str | None = None,
    mode: Mode | str | None = None,
    capture_dir: Path | None = None,
    *,
    server: str | None = None,
) -> LabRun:
    """Build the scenario, capture at every vantage, run the real client, tear down."""
    require_root()
    kind = ClientKind(client) if client is not None else None
    m = Mode(mode) if mode is not None else None
    sc = get(name) if isinstance(name, str) else name
    client_argv(client_job(sc, kind, m, Path("/dev/null")))  # refuse bad combinations early
    with Lab(sc, server=server) as lab:
        cap = lab.capture(capture_dir) if capture_dir is not None else None
        files: dict[str, Path] = {}
        if cap is not None:
            cap.start()
        try:
            result = lab.run_client(kind, m)
            if cap is not None:
                time.sleep(SETTLE)
        finally:
            if cap is not None:
                files = cap.stop()
        return LabRun(
            scenario=lab.scenario,
            client=kind or lab.scenario.client,
            mode=m or lab.scenario.mode,
            server=lab.server_kind.value,
            result=result,
            captures=files,
            server_log=lab.server_log(),
        )
