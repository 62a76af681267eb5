"""The Python ftplib client the lab runs inside a namespace: `python -m ftptrace.lab.ftpclient`.

ftplib picks PASV on IPv4 and EPSV on IPv6 (likewise PORT / EPRT); the lab needs every mode
on every family, so `makepasv`/`makeport` are overridden to send exactly the command asked
for (RFC 959 §4.1.2 PASV/PORT, RFC 2428 §2-3 EPRT/EPSV). Several transfers in one session
(`--transfers N`) keep going after a failed one, which is how a partly forwarded passive range
shows both outcomes in one capture. Exit 0 only when every transfer succeeded.
"""

from __future__ import annotations

import argparse
import ftplib
import socket
import sys
from typing import Any


class LabFTP(ftplib.FTP):
    """ftplib.FTP speaking exactly the requested data-channel command."""

    mode = "pasv"
    trust_pasv = False
    """Connect to the address in a 227 reply instead of the control peer's address."""

    def makepasv(self) -> tuple[str, int]:
        if self.mode == "epsv":
            assert self.sock is not None
            host, port = ftplib.parse229(self.sendcmd("EPSV"), self.sock.getpeername())
            return host, port
        if self.mode == "pasv":
            host, port = ftplib.parse227(self.sendcmd("PASV"))
            if not self.trust_pasv:
                assert self.sock is not None
                host = self.sock.getpeername()[0]
            return host, port
        return super().makepasv()

    def makeport(self) -> socket.socket:
        assert self.sock is not None
        sock = socket.create_server(("", 0), family=self.af, backlog=1)
        port = sock.getsockname()[1]
        host = self.sock.getsockname()[0]
        if self.mode == "eprt":
            self.sendeprt(host, port)
        else:
            self.sendport(host, port)
        if self.timeout is not None:
            sock.settimeout(self.timeout)
        return sock


def _explicit_tls(timeout: float) -> Any:
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    class LabFTPTLS(ftplib.FTP_TLS, LabFTP):
        pass

    return LabFTPTLS(context=ctx, timeout=timeout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ftptrace.lab.ftpclient")
    ap.add_argument("host")
    ap.add_argument("--mode", choices=("pasv", "port", "epsv", "eprt"), default="pasv")
    ap.add_argument("--file", default="test.jpg")
    ap.add_argument("--transfers", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=4.0)
    ap.add_argument("--trust-pasv", action="store_true")
    ap.add_argument("--tls", action="store_true")
    args = ap.parse_args(argv)
    ftp: Any = _explicit_tls(args.timeout) if args.tls else LabFTP(timeout=args.timeout)
    ftp.mode = args.mode
    ftp.trust_pasv = args.trust_pasv
    ftp.set_pasv(args.mode in ("pasv", "epsv"))
    ftp.set_debuglevel(1)
    failed = 0
    try:
        print(ftp.connect(args.host, 21), flush=True)
        ftp.login()  # anonymous; ftplib's debug output masks the password
        if args.tls:
            ftp.prot_p()
        for i in range(1, args.transfers + 1):
            chunks: list[bytes] = []
            try:
                ftp.retrbinary(f"RETR {args.file}", chunks.append)
                print(f"transfer {i}: ok, {sum(map(len, chunks))} bytes", flush=True)
            except (OSError, ftplib.Error, EOFError) as exc:
                failed += 1
                print(f"transfer {i}: FAILED: {type(exc).__name__}: {exc}", flush=True)
                if isinstance(exc, ftplib.error_perm | EOFError):
                    break
        try:
            ftp.quit()
        except (OSError, ftplib.Error, EOFError):
            ftp.close()
    except (OSError, ftplib.Error, EOFError) as exc:
        print(f"FAILED: {type(exc).__name__}: {exc}", flush=True)
        return 2
    if failed:
        print(f"{failed} of {args.transfers} transfers failed", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
