"""The lab's FTP server: Debian's vsftpd when installed, embedded pyftpdlib otherwise.

Everything the server needs lives in the run's private directory: its config, its
anonymous root (test.jpg ~100 KB and test.txt 10 bytes, the guide's test files; an `upload`
directory writable by the `ftp` user), its log and, for FTPS, a throw-away self-signed
certificate. The server runs in the foreground inside the server namespace; the lab owns
its pid.

vsftpd 3.0.3 quirks this module works around (checked by hand, see lab-notes):
`port_promiscuous=YES` together with `connect_from_port_20=YES` fails with
"500 OOPS: vsf_sysutil_bind", so promiscuous scenarios send active data from an ephemeral
port; `listen` and `listen_ipv6` are exclusive.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ftptrace.errors import LabError
from ftptrace.lab import netns
from ftptrace.lab import topology as t

TEST_JPG_SIZE = 100 * 1024
TEST_TXT = b"ftptrace!\n"
"""The guide's step-7 test file: exactly 10 bytes."""

START_TIMEOUT = 10.0
"""Seconds the server gets to start listening on port 21."""


class ServerKind(StrEnum):
    VSFTPD = "vsftpd"
    PYFTPDLIB = "pyftpdlib"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """What a scenario asks of the FTP server (mapped to vsftpd or pyftpdlib options)."""

    ipv6: bool = False
    listen_address: str | None = None
    """Listen only here (e.g. 127.0.0.1); None = every address."""
    pasv_range: tuple[int, int] = (50000, 50009)
    pasv_address: str | None = t.SERVER_WAN_V4
    """Address written into 227 replies; None = the server's own (private) address."""
    connect_from_port_20: bool = True
    port_promiscuous: bool = False
    """Accept PORT/EPRT to an address other than the control peer's (RFC 2577 §3 says no)."""
    tls: bool = False
    """Explicit FTPS (AUTH TLS, RFC 4217) with a self-signed certificate."""


def pick_kind(requested: str | None) -> ServerKind:
    if requested in (None, "auto"):
        return ServerKind.VSFTPD if shutil.which("vsftpd") else ServerKind.PYFTPDLIB
    try:
        kind = ServerKind(requested)
    except ValueError:
        raise LabError(f"unknown server {requested!r}: vsftpd or pyftpdlib") from None
    if kind is ServerKind.VSFTPD and shutil.which("vsftpd") is None:
        raise LabError("vsftpd is not installed (use --server pyftpdlib)")
    return kind


def _yn(flag: bool) -> str:
    return "YES" if flag else "NO"


def vsftpd_conf(cfg: ServerConfig, root: Path, workdir: Path) -> str:
    """A complete vsftpd.conf for one scenario (anonymous access only, no local users)."""
    lines = {
        "listen": _yn(not cfg.ipv6),
        "listen_ipv6": _yn(cfg.ipv6),
        "background": "NO",
        "seccomp_sandbox": "NO",
        "secure_chroot_dir": "/var/run/vsftpd/empty",
        "anonymous_enable": "YES",
        "no_anon_password": "YES",
        "anon_root": str(root),
        "local_enable": "NO",
        "write_enable": "YES",
        "anon_upload_enable": "YES",
        "anon_mkdir_write_enable": "NO",
        "dirmessage_enable": "NO",
        "pasv_enable": "YES",
        "pasv_min_port": str(cfg.pasv_range[0]),
        "pasv_max_port": str(cfg.pasv_range[1]),
        "port_enable": "YES",
        "connect_from_port_20": _yn(cfg.connect_from_port_20),
        "port_promiscuous": _yn(cfg.port_promiscuous),
        # Short, bounded waits so failing scenarios end in seconds, not minutes.
        "connect_timeout": "3",
        "accept_timeout": "5",
        "data_connection_timeout": "10",
        "idle_session_timeout": "30",
        "xferlog_enable": "YES",
        "xferlog_std_format": "NO",
        "log_ftp_protocol": "YES",
        "syslog_enable": "NO",
        "vsftpd_log_file": str(workdir / "vsftpd.log"),
        "ftpd_banner": "ftptrace lab vsftpd",
    }
    if cfg.pasv_address is not None:
        lines["pasv_address"] = cfg.pasv_address
    if cfg.listen_address is not None:
        lines["listen_address6" if cfg.ipv6 else "listen_address"] = cfg.listen_address
    if cfg.tls:
        lines |= {
            "ssl_enable": "YES",
            "allow_anon_ssl": "YES",
            "force_anon_logins_ssl": "YES",
            "force_anon_data_ssl": "NO",
            "require_ssl_reuse": "NO",
            "ssl_ciphers": "HIGH",
            "rsa_cert_file": str(workdir / "cert.pem"),
            "rsa_private_key_file": str(workdir / "key.pem"),
        }
    return "".join(f"{k}={v}\n" for k, v in lines.items())


def prepare_root(workdir: Path) -> Path:
    """The anonymous root: owned by root, not writable (vsftpd refuses otherwise)."""
    root = workdir / "root"
    root.mkdir(mode=0o755, exist_ok=True)
    os.chmod(workdir, 0o755)
    # A deterministic, incompressible-looking ~100 KB "photo".
    blob = bytes((i * 7919 + (i >> 8)) & 0xFF for i in range(TEST_JPG_SIZE))
    (root / "test.jpg").write_bytes(b"\xff\xd8\xff\xe0" + blob[4:])
    (root / "test.txt").write_bytes(TEST_TXT)
    upload = root / "upload"
    upload.mkdir(mode=0o777, exist_ok=True)
    os.chmod(upload, 0o777)
    try:
        ftp = pwd.getpwnam("ftp")
        os.chown(upload, ftp.pw_uid, ftp.pw_gid)
    except KeyError:
        pass
    return root


def make_certificate(workdir: Path) -> None:
    """A self-signed certificate for the FTPS scenario, valid for two days."""
    netns.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=ftp.example.net",
            "-keyout",
            str(workdir / "key.pem"),
            "-out",
            str(workdir / "cert.pem"),
        ],
        timeout=30,
    )


def server_argv(kind: ServerKind, cfg: ServerConfig, workdir: Path) -> list[str]:
    """Write the server's config into `workdir` and return the command that runs it."""
    root = prepare_root(workdir)
    if cfg.tls:
        make_certificate(workdir)
    if kind is ServerKind.VSFTPD:
        conf = workdir / "vsftpd.conf"
        conf.write_text(vsftpd_conf(cfg, root, workdir))
        return ["vsftpd", str(conf)]
    if cfg.tls:
        raise LabError("the FTPS scenarios need vsftpd (pyftpdlib's TLS needs pyOpenSSL)")
    argv = [
        sys.executable,
        "-m",
        "ftptrace.lab.pyftpd",
        "--root",
        str(root),
        "--pasv",
        f"{cfg.pasv_range[0]}-{cfg.pasv_range[1]}",
        "--log",
        str(workdir / "pyftpdlib.log"),
    ]
    if cfg.pasv_address is not None:
        argv += ["--masquerade", cfg.pasv_address]
    if cfg.listen_address is not None:
        argv += ["--listen", cfg.listen_address]
    elif cfg.ipv6:
        argv += ["--listen", "::"]
    if cfg.port_promiscuous:
        argv.append("--promiscuous")
    return argv


def listening_on(pid: int, port: int) -> bool:
    """Whether anything in `pid`'s network namespace listens on TCP `port`.

    /proc/PID/net/tcp{,6} shows the sockets of that process's namespace, so this needs no
    helper process inside the namespace. State 0A is LISTEN.
    """
    want = f":{port:04X}"
    for name in ("tcp", "tcp6"):
        try:
            text = Path(f"/proc/{pid}/net/{name}").read_text()
        except OSError:
            continue
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[1].endswith(want) and fields[3] == "0A":
                return True
    return False


def start(namespace: str, argv: list[str], workdir: Path) -> subprocess.Popen[bytes]:
    """Start the server in the foreground inside `namespace`; return once it listens on 21."""
    log = (workdir / "server.out").open("wb")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", namespace, *argv],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = (workdir / "server.out").read_text(errors="replace").strip()
            raise LabError(f"FTP server exited at start ({proc.returncode}): {out[-300:]}")
        if listening_on(proc.pid, 21):
            return proc
        time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=5)
    raise LabError(f"FTP server did not listen on port 21 within {START_TIMEOUT:.0f}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End the server (SIGTERM, then SIGKILL after a bounded wait)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
