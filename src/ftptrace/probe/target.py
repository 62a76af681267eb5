"""Who a probe talks to, as whom: `HOST[:PORT]`, name resolution, credentials and ~/.netrc.

Resolution runs in a helper thread with a hard bound, because `getaddrinfo` itself has no
timeout and a broken resolver would otherwise hang a probe that promises to end in time.
"""

from __future__ import annotations

import ipaddress
import netrc
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from ftptrace.errors import ProbeTimeout, UsageError

ANONYMOUS = "anonymous"
ANONYMOUS_PASSWORD = "ftptrace@"
"""RFC 1635 §2: anonymous users give an e-mail-like identity as the password."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """The control connection's destination: what the user typed and the address used."""

    name: str
    ip: str
    port: int = 21

    @property
    def v6(self) -> bool:
        return ":" in self.ip

    def __str__(self) -> str:
        host = f"[{self.ip}]" if self.v6 else self.ip
        shown = host if self.name == self.ip else f"{self.name} ({self.ip})"
        return f"{shown}:{self.port}" if self.port != 21 else shown


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    user: str
    password: str
    source: str
    """Where they came from: 'anonymous', 'command line', '~/.netrc' … (never the password)."""


def split_host_port(text: str, default_port: int = 21) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]:port`, or a bare IPv6 address (RFC 3986 §3.2.2 brackets)."""
    text = text.strip()
    if not text:
        raise UsageError("no host given")
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise UsageError(f"unclosed '[' in {text!r}")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise UsageError(f"expected ':PORT' after ']' in {text!r}")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host:
        raise UsageError(f"no host in {text!r}")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"port must be 1-65535 in {text!r}")
    return host, int(port_text)


def resolve(host: str, port: int, timeout: float) -> str:
    """The first address for `host` (IPv4 preferred, as most FTP clients do), bounded in time."""
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        pass
    result: list[str] = []
    error: list[BaseException] = []

    def work() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            infos.sort(key=lambda i: 0 if i[0] == socket.AF_INET else 1)
            result.extend(str(i[4][0]) for i in infos)
        except OSError as exc:
            error.append(exc)

    th = threading.Thread(target=work, name="ftptrace-resolve", daemon=True)
    th.start()
    th.join(timeout)
    if th.is_alive():
        raise ProbeTimeout(f"resolving {host!r}: no answer within {timeout:g}s")
    if error or not result:
        why = getattr(error[0], "strerror", None) or str(error[0]) if error else "no address"
        raise UsageError(f"cannot resolve {host!r}: {why}")
    return result[0]


def make_target(text: str, timeout: float) -> Target:
    host, port = split_host_port(text)
    return Target(name=host, ip=resolve(host, port, timeout), port=port)


def netrc_path() -> Path:
    """$NETRC if set (as curl and ftp(1) honour it), else ~/.netrc."""
    env = os.environ.get("NETRC")
    return Path(env) if env else Path.home() / ".netrc"


def _netrc_lookup(path: Path, host: str) -> tuple[str, str | None] | None:
    if not path.is_file():
        return None
    try:
        auth = netrc.netrc(str(path)).authenticators(host)
    except netrc.NetrcParseError as exc:
        # Its message quotes the offending token, which may be (part of) a password.
        raise UsageError(f"{path}: cannot parse line {exc.lineno} (the line is not shown: "
                         "it may hold a password)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}"
                         ) from None
    if auth is None:
        return None
    login, _account, password = auth
    return login, password


def credentials(target: Target, user: str | None, password: str | None,
                netrc_file: Path | None = None) -> Credentials:
    """Pick the login the way ftp(1) and curl do.

    An explicit --user wins (with --password, else the .netrc password for that host if
    the login matches, else the anonymous password); without --user the .netrc entry for
    the host (or its `default`) is used; with neither, anonymous (RFC 1635).
    """
    path = netrc_file if netrc_file is not None else netrc_path()
    entry = None
    for name in dict.fromkeys((target.name, target.ip)):
        entry = _netrc_lookup(path, name)
        if entry is not None:
            break
    shown = "~/.netrc" if netrc_file is None and "NETRC" not in os.environ else str(path)
    if user is not None:
        if password is not None:
            return Credentials(user=user, password=password, source="command line")
        if entry is not None and entry[0] == user and entry[1]:
            return Credentials(user=user, password=entry[1], source=shown)
        return Credentials(user=user, password=ANONYMOUS_PASSWORD, source="command line")
    if entry is not None and entry[0]:
        return Credentials(user=entry[0], password=entry[1] or password or ANONYMOUS_PASSWORD,
                           source=shown)
    return Credentials(user=ANONYMOUS, password=password or ANONYMOUS_PASSWORD,
                       source="anonymous")
