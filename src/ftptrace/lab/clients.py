"""Real FTP clients (curl, lftp, Python's ftplib) as argv for a run inside a client netns.

Each data-channel mode maps to each client's own switches:

| mode | curl                          | lftp                                   | ftplib       |
|------|-------------------------------|----------------------------------------|--------------|
| pasv | --disable-epsv                | ftp:passive-mode on, prefer-epsv no    | PASV         |
| epsv | (default: EPSV first)         | ftp:passive-mode on, prefer-epsv yes   | EPSV         |
| port | --ftp-port - --disable-eprt   | ftp:passive-mode off (PORT on IPv4)    | PORT         |
| eprt | --ftp-port -                  | ftp:passive-mode off (EPRT on IPv6)    | EPRT         |

Every client honours the address in a 227 reply only when the scenario says so
(`trust_pasv`): curl (`--ftp-skip-pasv-ip`, default since 7.74), ftplib
(`trust_server_pasv_ipv4_address`) and lftp (`ftp:fix-pasv-address`) all ignore a private
227 address by default, which hides the most common server misconfiguration.
Every command is bounded twice: by the client's own timeouts and by a hard outer timeout.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ftptrace.errors import UsageError

CONNECT_TIMEOUT = 3
"""Seconds a client waits for any TCP connection (control or data)."""
MAX_TIME = 8
"""Seconds a whole client run may take (curl --max-time)."""
HARD_TIMEOUT = 15.0
"""The outer bound: the process is killed after this many seconds whatever it does."""


class ClientKind(StrEnum):
    CURL = "curl"
    LFTP = "lftp"
    FTPLIB = "ftplib"


class Mode(StrEnum):
    PASV = "pasv"
    PORT = "port"
    EPSV = "epsv"
    EPRT = "eprt"

    @property
    def passive(self) -> bool:
        return self in (Mode.PASV, Mode.EPSV)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientJob:
    """One client run: whom to dial, how, and what to fetch."""

    kind: ClientKind
    mode: Mode
    host: str
    """The address the client dials (an IPv6 address is bracketed in URLs)."""
    file: str = "test.jpg"
    transfers: int = 1
    trust_pasv: bool = False
    tls: bool = False
    out: Path = Path("/dev/null")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def curl_argv(job: ClientJob) -> list[str]:
    argv = [
        "curl",
        "-sS",
        "-v",
        "--connect-timeout",
        str(CONNECT_TIMEOUT),
        "--max-time",
        str(MAX_TIME),
        "-o",
        str(job.out),
    ]
    if job.mode is Mode.PASV:
        argv.append("--disable-epsv")
    elif job.mode is Mode.PORT:
        argv += ["--ftp-port", "-", "--disable-eprt"]
    elif job.mode is Mode.EPRT:
        argv += ["--ftp-port", "-"]
    if job.trust_pasv:
        argv.append("--no-ftp-skip-pasv-ip")
    if job.tls:
        argv += ["--ssl-reqd", "--insecure"]
    if job.transfers > 1:
        raise UsageError("curl runs one transfer per scenario here; use --client ftplib")
    argv.append(f"ftp://{_url_host(job.host)}/{job.file}")
    return argv


def lftp_argv(job: ClientJob) -> list[str]:
    if job.mode is Mode.PORT and ":" in job.host:
        raise UsageError("lftp always sends EPRT over IPv6; use --mode eprt")
    if job.mode is Mode.EPRT and ":" not in job.host:
        raise UsageError("lftp sends EPRT only over IPv6; use curl or ftplib for EPRT on IPv4")
    settings = {
        "net:timeout": str(CONNECT_TIMEOUT),
        "net:max-retries": "1",
        "net:persist-retries": "0",
        "net:reconnect-interval-base": "1",
        "ftp:passive-mode": "on" if job.mode.passive else "off",
        "ftp:auto-passive-mode": "no",
        "ftp:prefer-epsv": "yes" if job.mode is Mode.EPSV else "no",
        "ftp:fix-pasv-address": "no" if job.trust_pasv else "yes",
        "ftp:ssl-allow": "yes" if job.tls else "no",
        "ftp:ssl-force": "yes" if job.tls else "no",
        "ftp:ssl-allow-anonymous": "yes" if job.tls else "no",
        "ssl:verify-certificate": "no",
        "cmd:fail-exit": "yes",
    }
    script = "; ".join(f"set {k} {v}" for k, v in settings.items())
    script += f"; open -d -u anonymous,lab@example.net ftp://{_url_host(job.host)}"
    gets = [f"get {job.file} -o {job.out}"] * job.transfers
    script += "; " + "; ".join(gets)
    return ["lftp", "-c", script]


def ftplib_argv(job: ClientJob) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "ftptrace.lab.ftpclient",
        job.host,
        "--mode",
        job.mode.value,
        "--file",
        job.file,
        "--transfers",
        str(job.transfers),
        "--timeout",
        str(CONNECT_TIMEOUT + 1),
    ]
    if job.trust_pasv:
        argv.append("--trust-pasv")
    if job.tls:
        argv.append("--tls")
    return argv


def client_argv(job: ClientJob) -> list[str]:
    """The command line for `job` (raise `UsageError` for a combination a client lacks)."""
    if job.mode is Mode.PASV and ":" in job.host and job.kind is not ClientKind.LFTP:
        # PASV cannot express an IPv6 address (RFC 2428 §1); curl and ftplib refuse it.
        raise UsageError("PASV cannot carry an IPv6 address; use --mode epsv")
    if job.kind is ClientKind.CURL:
        return curl_argv(job)
    if job.kind is ClientKind.LFTP:
        return lftp_argv(job)
    return ftplib_argv(job)


_QUOTED_PASSWORD = re.compile(r'(?i)(\bpassword\b\s*[:=]?\s*)"[^"]*"')
"""vsftpd logs `OK LOGIN: Client "…", anon password "…"` (when it asks for one)."""


def mask_secrets(text: str) -> str:
    """Hide passwords in client transcripts (curl -v prints `> PASS …`; lftp -d `PASS …`)
    and server logs."""
    out = []
    for line in text.splitlines():
        line = _QUOTED_PASSWORD.sub(r'\1"********"', line)
        for marker in ("PASS ", "pass "):
            i = line.find(marker)
            if i != -1 and (i == 0 or not line[i - 1].isalnum()):
                line = line[: i + 5] + "********"
                break
        out.append(line)
    return "\n".join(out)
