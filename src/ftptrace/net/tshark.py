"""Wireshark's view of a capture's FTP dialogue, for cross-checking ours.

`tshark_ftp_view` runs `tshark -T fields` over a capture and returns, per frame, the commands,
replies and announced endpoints Wireshark's FTP dissector found; tests and the replay
benchmark compare them with ftptrace's own parse. PASS arguments are masked here too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from typing import NamedTuple

from ftptrace.errors import CaptureError
from ftptrace.net.model import Endpoint

_FIELDS = (
    "frame.number", "frame.time_epoch", "ip.src", "ipv6.src", "tcp.srcport",
    "ip.dst", "ipv6.dst", "tcp.dstport", "ftp.request", "ftp.request.command",
    "ftp.request.arg", "ftp.response.code", "ftp.response.arg", "ftp.passive.ip",
    "ftp.passive.port", "ftp.active.cip", "ftp.active.port", "ftp.eprt.ip", "ftp.eprt.ipv6",
    "ftp.eprt.port", "ftp.epsv.port",
)
_SEP = "\x1f"
_AGG = "\x1e"


class TsharkFtpRecord(NamedTuple):
    """What Wireshark's FTP dissector saw in one frame (several lines may share a frame)."""

    frame: int
    ts: float
    src: Endpoint
    dst: Endpoint
    direction: str  # "request" (client to server) or "response"
    commands: tuple[str, ...]
    args: tuple[str, ...]  # PASS arguments are replaced by "****"
    response_codes: tuple[int, ...]
    response_args: tuple[str, ...]
    passive: Endpoint | None  # 227 reply (ftp.passive.ip / ftp.passive.port)
    active: Endpoint | None  # PORT command (ftp.active.cip / ftp.active.port)
    eprt: Endpoint | None
    epsv_port: int | None


def tshark_ftp_view(
    path: str | os.PathLike[str], control_ports: Sequence[int] = (21,), timeout: float = 600.0
) -> list[TsharkFtpRecord]:
    """Run `tshark -T fields` over a capture and return its FTP control-channel frames."""
    exe = shutil.which("tshark")
    if exe is None:
        raise CaptureError("tshark is not installed (apt-get install tshark)")
    cmd = [exe, "-n", "-r", os.fspath(path), "-Y", "ftp", "-T", "fields",
           "-E", f"separator={_SEP}", "-E", f"aggregator={_AGG}", "-E", "occurrence=a"]
    for port in control_ports:
        if port != 21:
            cmd += ["-d", f"tcp.port=={port},ftp"]
    for field in _FIELDS:
        cmd += ["-e", field]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CaptureError(f"tshark did not finish reading {os.fsdecode(path)}") from exc
    if done.returncode != 0:
        msg = done.stderr.decode(errors="replace").strip().splitlines()
        raise CaptureError(f"tshark failed on {os.fsdecode(path)}: {msg[-1] if msg else '?'}")
    return [
        _record(line.split(_SEP))
        for line in done.stdout.decode(errors="replace").splitlines()
        if line.count(_SEP) == len(_FIELDS) - 1
    ]


def _record(col: list[str]) -> TsharkFtpRecord:
    def many(i: int) -> tuple[str, ...]:
        return tuple(col[i].split(_AGG)) if col[i] else ()

    def one(i: int) -> str:
        return col[i].split(_AGG)[0]

    def endpoint(ip: str, port: str) -> Endpoint | None:
        return Endpoint(ip, int(port)) if ip and port else None

    commands = many(9)
    args = many(10)
    if any(c.upper() == "PASS" for c in commands):
        args = tuple("****" for _ in args)
    return TsharkFtpRecord(
        frame=int(col[0]),
        ts=float(col[1]),
        src=Endpoint(one(2) or one(3), int(one(4) or 0)),
        dst=Endpoint(one(5) or one(6), int(one(7) or 0)),
        direction="request" if one(8) in ("1", "True") else "response",
        commands=commands,
        args=args,
        response_codes=tuple(int(c) for c in many(11) if c.isdigit()),
        response_args=many(12),
        passive=endpoint(one(13), one(14)),
        active=endpoint(one(15), one(16)),
        eprt=endpoint(one(17) or one(18), one(19)),
        epsv_port=int(one(20)) if one(20).isdigit() else None,
    )
