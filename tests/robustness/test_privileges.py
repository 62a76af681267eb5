"""Without root: say what needs sudo (one line), exit 2 where nothing can be done, and
still do what can be done — a probe's control dialogue and socket-level results.

Run as root, the commands are run as `nobody` through setpriv (keeping only
CAP_DAC_READ_SEARCH, so the interpreter under /root stays readable: no network or admin
capability); run as a normal user, they simply run as that user. All commands of one test
run in one unprivileged interpreter (a small driver below) to keep the suite fast.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

DRIVER = r"""
import json, sys
from typer.testing import CliRunner
from ftptrace.cli import app
runner = CliRunner()
out = []
for argv in json.loads(sys.argv[1]):
    r = runner.invoke(app, argv)
    exc = r.exception
    out.append({"argv": argv, "code": r.exit_code, "stdout": r.stdout, "stderr": r.stderr,
                "crash": None if exc is None or isinstance(exc, SystemExit) else repr(exc),
                "euid": __import__("os").geteuid()})
print(json.dumps(out))
"""


def _unprivileged_prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to drop root")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
            "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]


def run_unprivileged(argvs: list[list[str]], home: Path) -> list[dict[str, Any]]:
    env = {**os.environ, "HOME": str(home), "NETRC": str(home / "no-netrc"), "CI": "",
           "COLUMNS": "200"}
    proc = subprocess.run([*_unprivileged_prefix(), sys.executable, "-c", DRIVER,
                           json.dumps(argvs)], capture_output=True, text=True, timeout=120,
                          env=env, cwd="/", check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results: list[dict[str, Any]] = json.loads(proc.stdout)
    for r in results:
        assert r["crash"] is None, (r["argv"], r["crash"])
        assert r["euid"] != 0
        assert "Traceback" not in r["stdout"] + r["stderr"]
    return results


@pytest.fixture
def ftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A well-behaved server (pyftpdlib) on 127.0.0.1, readable by anyone."""
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    root = tmp_path_factory.mktemp("ftproot")
    (root / "test.jpg").write_bytes(b"x" * 1000)
    auth = DummyAuthorizer()
    auth.add_anonymous(str(root))
    handler = type("H", (FTPHandler,), {"authorizer": auth, "banner": "ok",
                                        "permit_foreign_addresses": False})
    server = FTPServer(("127.0.0.1", 0), handler)
    th = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.05}, daemon=True)
    th.start()
    try:
        yield int(server.socket.getsockname()[1])
    finally:
        server.close_all()
        th.join(timeout=5)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    tmp_path.chmod(0o755)
    h = tmp_path / "home"
    h.mkdir(mode=0o777)
    h.chmod(0o777)
    return h


def test_probes_without_root_still_run_the_dialogue(ftp_server: int, home: Path) -> None:
    host = f"127.0.0.1:{ftp_server}"
    pcap = home / "never.pcapng"
    results = run_unprivileged([
        ["pasv", host, "--timeout", "3"],
        ["port", host, "--timeout", "3", "--json"],
        ["epsv", host, "--timeout", "3", "--json", "--pcap", str(pcap)],
        ["eprt", host, "--timeout", "3", "--command", "RETR test.jpg"],
    ], home)
    for r in results:
        assert r["code"] == 0, r
    pasv, port, epsv, eprt = results
    for text in (pasv["stdout"], eprt["stdout"]):
        head = text.splitlines()[0]
        assert head.endswith("[socket level: run with sudo to watch packets]"), head
        assert text.count("run with sudo") == 1, "said once, not on every line"
        assert "→ PASS ****" in text and "only sudo would have shown:" in text
    assert "226" in eprt["stdout"]
    for r in (port, epsv):
        doc = json.loads(r["stdout"])
        probe = doc["probe"]
        assert probe["privileged"] is False and probe["needs_root"]
        assert probe["attempts"][0]["socket_result"] in ("established", "accepted")
        assert doc["sessions"], "the socket-level trace is diagnosed like a capture"
    assert any("capturing needs root" in n for n in json.loads(epsv["stdout"])["probe"]["notes"])
    assert not pcap.exists()


ROOT_ONLY = [
    ["sweep", "127.0.0.1", "--ports", "50000-50002", "--timeout", "1"],
    ["path", "127.0.0.1", "--port", "50000", "--max-hops", "2", "--timeout", "1"],
    ["watch", "--duration", "1"],
    ["watch", "-i", "lo", "--json-lines", "--duration", "1"],
    ["lab", "list"],
    ["lab", "up", "pasv-ok"],
    ["lab", "run", "pasv-ok"],
    ["lab", "run", "--all"],
    ["lab", "status"],
    ["lab", "down"],
    ["lab", "demo"],
    ["lab", "exec", "client", "--", "true"],
]


def test_root_only_commands_say_so_in_one_line(home: Path) -> None:
    for r in run_unprivileged(ROOT_ONLY, home):
        lines = [ln for ln in r["stderr"].splitlines() if ln.strip()]
        assert r["code"] == 2, r
        assert len(lines) == 1 and lines[0].startswith("ftptrace: "), r
        assert "root" in lines[0] or "sudo" in lines[0], r
        assert not r["stdout"].strip(), r


def test_sweep_from_pasv_keeps_what_it_learned(ftp_server: int, home: Path) -> None:
    """The PASV replies need no root; the SYN sweep does. The one line says both."""
    (r,) = run_unprivileged([["sweep", f"127.0.0.1:{ftp_server}", "--from-pasv", "3",
                              "--timeout", "3"]], home)
    lines = [ln for ln in r["stderr"].splitlines() if ln.strip()]
    assert r["code"] == 2 and len(lines) == 1, r
    assert "root" in lines[0] and "passive ports" in lines[0], lines
