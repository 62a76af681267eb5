"""Embedded fallback server: pyftpdlib, run as `python -m ftptrace.lab.pyftpd` in a netns.

Anonymous read access to the root, uploads into `upload/`. Like vsftpd it refuses a PORT to
a foreign address unless `--promiscuous` (RFC 2577 §3, the "bounce attack" defence);
unlike vsftpd it sends active-mode data from an ephemeral port, never from 20.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="ftptrace.lab.pyftpd")
    ap.add_argument("--root", required=True)
    ap.add_argument("--pasv", default="50000-50009")
    ap.add_argument("--masquerade")
    ap.add_argument("--listen", default="0.0.0.0")
    ap.add_argument("--promiscuous", action="store_true")
    ap.add_argument("--log")
    args = ap.parse_args(argv)
    if args.log:
        logging.basicConfig(filename=args.log, level=logging.INFO)
    root = Path(args.root)
    auth = DummyAuthorizer()
    auth.add_anonymous(str(root), perm="elr")
    auth.override_perm("anonymous", str(root / "upload"), perm="elrw", recursive=True)
    handler = FTPHandler
    handler.authorizer = auth
    handler.banner = "ftptrace lab pyftpdlib"
    lo, hi = (int(p) for p in args.pasv.split("-"))
    handler.passive_ports = range(lo, hi + 1)
    handler.masquerade_address = args.masquerade
    handler.permit_foreign_addresses = bool(args.promiscuous)
    handler.timeout = 30
    server = FTPServer((args.listen, 21), handler)
    server.max_cons = 32
    server.serve_forever()


if __name__ == "__main__":
    main()
