"""A real FTP server on loopback (pyftpdlib in a thread) for the check ladder's unit tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Server:
    port: int
    root: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
def ftp_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    root = tmp_path / "root"
    (root / "upload").mkdir(parents=True)
    (root / "test.jpg").write_bytes(b"\xff\xd8" + bytes(range(256)) * 40)
    auth = DummyAuthorizer()
    auth.add_anonymous(str(root), perm="elr")
    auth.override_perm("anonymous", str(root / "upload"), perm="elrwd", recursive=True)
    auth.add_user("bob", "secret", str(root), perm="elr")

    class Handler(FTPHandler):
        pass

    Handler.authorizer = auth
    Handler.timeout = 10
    Handler.auth_failed_timeout = 0.05
    server = FTPServer(("127.0.0.1", 0), Handler)
    stop = threading.Event()

    def serve() -> None:
        # One poll at a time, closed by this same thread: close_all() from the test's
        # thread raced the loop ("Bad file descriptor" in serve_forever at teardown).
        while not stop.is_set():
            server.serve_forever(timeout=0.05, blocking=False)
        server.close_all()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        yield Server(port=server.address[1], root=root)
    finally:
        stop.set()
        th.join(timeout=5)
