"""Real sockets against pyftpdlib on 127.0.0.1 (no root, no lab): the driver end to end."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ftptrace.probe.runner import ProbeOptions, run_probe
from ftptrace.probe.target import Credentials, Target


@pytest.fixture
def ftp_server(tmp_path: Path) -> Iterator[int]:
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    (tmp_path / "test.txt").write_bytes(b"ftptrace!\n")
    auth = DummyAuthorizer()
    auth.add_user("bob", "pw-not-shown", str(tmp_path), perm="elrw")
    handler = type("Handler", (FTPHandler,), {"authorizer": auth, "banner": "test"})
    server = FTPServer(("127.0.0.1", 0), handler)
    port = server.socket.getsockname()[1]
    th = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.05}, daemon=True)
    th.start()
    try:
        yield port
    finally:
        server.close_all()
        th.join(timeout=5)


@pytest.mark.parametrize("mode", ["pasv", "epsv", "port", "eprt"])
def test_every_mode_downloads_over_loopback(ftp_server: int, mode: str) -> None:
    opts = ProbeOptions(mode=mode, target=Target(name="127.0.0.1", ip="127.0.0.1",
                                                 port=ftp_server),
                        creds=Credentials(user="bob", password="pw-not-shown", source="test"),
                        command=("RETR", "test.txt"), timeout=5.0, sniff=False)
    result = run_probe(opts)
    a = result.report.attempts[0]
    assert a.socket_result in ("established", "accepted"), a
    assert a.final_reply is not None and a.final_reply.startswith("226")
    assert a.bytes == 10
    assert not result.failed
    lines = [line.render() for line in result.report.transcript]
    assert "→ PASS ****" in lines
    assert "pw-not-shown" not in "\n".join(lines)
    session = result.analysis.trace.sessions[0]
    assert session.server.port == ftp_server and session.login_ok
