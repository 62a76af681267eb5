"""Passwords never appear in stdout, stderr, JSON or any file ftptrace writes.

Every path a password can travel: `replay` of a capture holding PASS (terminal, JSON,
--report, --annotate — its comments read back with tshark and its packet bytes), every
diagram format, the probes with --password, ~/.netrc or the prompt, `check`, `watch
--json-lines`, and the lab's client transcripts and server logs. The servers here echo the
password back in their 230/530 replies and elsewhere, as broken or hostile ones do.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import Result

from ftptrace.lab.clients import mask_secrets

from . import evilftp
from .captures import with_tcp_checksums
from .evilftp import EvilFtpServer
from .helpers import assert_no_secret, assert_sane_exit, cli, files_under, stderr_of
from wire import Ftp, Wire, ep, write_pcap

PASSWORD = "Tr0ub4dor&3-Echo"
TIMEOUT = "1"


def _echoing_capture(path: Path) -> Path:
    """A session whose client mistypes and whose server echoes the password everywhere."""
    w = Wire(hops={"198.51.100.2": 4})
    ftp = Ftp(w, "203.0.113.10:40000", "198.51.100.2:21")
    ftp.cmd("USER alice", "331 Password required for alice.")
    ftp.cmd(f"PASS {PASSWORD}", f"530 Login incorrect: {PASSWORD}")
    ftp.cmd("USER alice", "331 Password required for alice.")
    ftp.cmd(f"PASS  {PASSWORD}", f"230-Your password {PASSWORD} was accepted",
            f"230 Logged in ({PASSWORD})")
    ftp.cmd("PASV", f"227 Entering Passive Mode (198,51,100,2,195,80). {PASSWORD}")
    w.syn(ep("203.0.113.10:40001"), ep("198.51.100.2:50000"), count=2)
    ftp.cmd("LIST", f"425 Can't open data connection for {PASSWORD}")
    ftp.cmd(f"HELP {PASSWORD}", f"500 Unknown command {PASSWORD}")
    ftp.cmd(f"RETR {PASSWORD}", f"550 {PASSWORD}: no such file")
    ftp.quit()
    write_pcap(w.packets, str(path))
    return path


def test_replay_and_diagrams_never_show_the_password(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    src = _echoing_capture(tmp_path / "in" / "c.pcap")
    out = tmp_path / "out"
    out.mkdir()
    runs = [
        cli("replay", src),
        cli("replay", "--json", src),
        cli("replay", "--json", "--report", out / "r.html", "--annotate", out / "a.pcapng", src),
        cli("replay", "--json", f"client={src}", f"server={src}"),
    ]
    (out / "doc.json").write_text(runs[1].stdout)
    for fmt in ("terminal", "mermaid", "svg", "html"):
        runs.append(cli("diagram", "-f", fmt, src))
        runs.append(cli("diagram", "-f", fmt, "-o", out / f"d.{fmt}", src))
        runs.append(cli("diagram", "--from-json", out / "doc.json", "-f", fmt))
    for r in runs:
        assert_sane_exit(r)
        assert_no_secret(PASSWORD, [r.stdout, stderr_of(r)], "stdout/stderr")
    written = files_under(out)
    assert {p.name for p, _ in written} >= {"r.html", "a.pcapng", "doc.json", "d.svg"}
    assert_no_secret(PASSWORD, [b for _, b in written], "a written file")
    assert "****" in runs[0].stdout, "masked, not silently dropped"


@pytest.fixture(scope="module")
def tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("tshark missing (CI=true)")
        pytest.skip("tshark not installed")
    return path


def test_annotated_capture_read_back_with_tshark(tmp_path: Path, tshark: str) -> None:
    """Comments (`frame.comment`) and every dissected field of every packet are clean."""
    src = with_tcp_checksums(_echoing_capture(tmp_path / "c.pcap"))
    out = tmp_path / "a.pcapng"
    assert_sane_exit(cli("replay", "--annotate", out, src))
    env = {**os.environ, "HOME": str(tmp_path)}
    comments = subprocess.run([tshark, "-r", str(out), "-Y", "frame.comment", "-T", "fields",
                               "-e", "frame.comment"], capture_output=True, text=True,
                              timeout=60, env=env, check=True).stdout
    assert "PASS ****" in comments
    dissected = subprocess.run([tshark, "-r", str(out), "-V", "-x"], capture_output=True,
                               text=True, timeout=60, env=env, check=True).stdout
    assert "Request command: PASS" in dissected, "the frames are still there, only masked"
    assert_no_secret(PASSWORD, [comments, dissected], "tshark's view")
    status = subprocess.run([tshark, "-r", str(out), "-o", "tcp.check_checksum:TRUE", "-T",
                             "fields", "-e", "tcp.checksum.status"], capture_output=True,
                            text=True, timeout=60, env=env, check=True).stdout.split()
    assert status and set(status) == {"1"}, "masking keeps every TCP checksum good"


# --- live: probes, netrc, prompt, check ------------------------------------------------------


@pytest.fixture
def echo_server() -> Iterator[EvilFtpServer]:
    with EvilFtpServer(evilftp.echoing()) as srv:
        yield srv


def _probe_runs(port: int, *creds: str) -> list[Result]:
    host = f"127.0.0.1:{port}"
    return [
        cli("pasv", host, "--timeout", TIMEOUT, *creds),
        cli("pasv", host, "--timeout", TIMEOUT, "--json", *creds),
        cli("port", host, "--timeout", TIMEOUT, "--json", *creds),
        cli("check", host, "--timeout", TIMEOUT, *creds),
        cli("check", host, "--timeout", TIMEOUT, "--json", *creds),
    ]


def test_probe_and_check_with_password_option(echo_server: EvilFtpServer) -> None:
    runs = _probe_runs(echo_server.port, "--user", "bob", "--password", PASSWORD)
    for r in runs:
        assert_sane_exit(r)
        assert_no_secret(PASSWORD, [r.stdout, stderr_of(r)])
    sent = b"".join(b"".join(c.commands) for c in echo_server.connections)
    assert f"PASS {PASSWORD}".encode() in sent, "the password was really used"


def test_probe_and_check_with_netrc(echo_server: EvilFtpServer, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login bob password {PASSWORD}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    runs = _probe_runs(echo_server.port)
    for r in runs:
        assert_sane_exit(r)
        assert_no_secret(PASSWORD, [r.stdout, stderr_of(r)])
    assert str(netrc) in runs[0].stdout
    sent = b"".join(b"".join(c.commands) for c in echo_server.connections)
    assert f"PASS {PASSWORD}".encode() in sent


def test_password_prompt_is_not_echoed(echo_server: EvilFtpServer) -> None:
    from typer.testing import CliRunner

    from ftptrace.cli import app

    r = CliRunner().invoke(app, ["pasv", f"127.0.0.1:{echo_server.port}", "--timeout", TIMEOUT,
                             "--user", "bob", "--password", "-"], input=PASSWORD + "\n")
    assert_sane_exit(r)
    assert_no_secret(PASSWORD, [r.output])


@pytest.mark.parametrize("line", [
    f"machine 127.0.0.1 login bob password {PASSWORD[:6]} {PASSWORD[6:]}",
    f"{PASSWORD}",
    f"machine 127.0.0.1 login bob password {PASSWORD} macdef",
])
def test_broken_netrc_error_does_not_quote_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              line: str) -> None:
    """Python's NetrcParseError quotes the offending token: often a piece of a password."""
    netrc = tmp_path / "netrc"
    netrc.write_text(line + "\n")
    monkeypatch.setenv("NETRC", str(netrc))
    for args in (["pasv", "127.0.0.1:1"], ["check", "127.0.0.1:1"]):
        r = cli(*args, "--timeout", TIMEOUT)
        assert_sane_exit(r)
        assert r.exit_code == 2 and str(netrc) in stderr_of(r)
        for piece in (PASSWORD, PASSWORD[:6], PASSWORD[6:]):
            assert piece not in r.output


def test_undecodable_netrc_is_an_error_not_a_traceback(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_bytes(b"machine 127.0.0.1 login bob password \xff\xfe" + PASSWORD.encode())
    monkeypatch.setenv("NETRC", str(netrc))
    r = cli("pasv", "127.0.0.1:1", "--timeout", TIMEOUT)
    assert_sane_exit(r)
    assert r.exit_code == 2
    assert_no_secret(PASSWORD, [r.output])


# --- watch (root: it sniffs loopback) ------------------------------------------------------------


def _drive_client(port: int) -> None:
    """What a client does by hand, password and all, against the echoing server."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.settimeout(2)
        for line in (b"USER bob", f"PASS {PASSWORD}".encode(), b"PASV", b"LIST",
                     f"RETR {PASSWORD}".encode(), b"QUIT"):
            s.sendall(line + b"\r\n")
            time.sleep(0.05)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and s.recv(4096):
            pass


@pytest.mark.skipif(os.geteuid() != 0, reason="watch sniffs packets: root only")
def test_watch_json_lines(echo_server: EvilFtpServer, tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "from ftptrace.cli import main; main()", "watch", "-i", "lo",
            "--ports", str(echo_server.port), "--json-lines", "--duration", "2.5",
            "--wait", "0.5", "--pcap", str(tmp_path / "w.pcapng")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        started = proc.stderr.readline().decode()
        assert "watching" in started, started
        _drive_client(echo_server.port)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    assert proc.returncode in (0, 1), err
    assert b'"event": "session"' in out and b'"user": "bob"' in out
    assert_no_secret(PASSWORD, [out, err], "watch output")


# --- the lab ----------------------------------------------------------------------------------


def test_lab_masking_covers_server_logs() -> None:
    log = (f'Sun [pid 9] [ftp] OK LOGIN: Client "203.0.113.2", anon password "{PASSWORD}"\n'
           f'Sun [pid 9] FTP command: Client "203.0.113.2", "PASS {PASSWORD}"\n'
           f"---> PASS {PASSWORD}\n> PASS {PASSWORD}")
    assert_no_secret(PASSWORD, [mask_secrets(log)])


@pytest.mark.lab
@pytest.mark.parametrize("server", ["pyftpdlib", "vsftpd"])
def test_lab_run_outputs(require_lab: None, tmp_path: Path, server: str) -> None:
    """A real lab run where the client sends a password (lftp's anonymous one)."""
    from ftptrace.lab import report
    from ftptrace.lab.clients import ClientJob, ClientKind, Mode, lftp_argv
    from ftptrace.lab.runner import run_scenario

    script = lftp_argv(ClientJob(kind=ClientKind.LFTP, mode=Mode.PASV, host="x"))[-1]
    secret = script.split("-u anonymous,", 1)[1].split()[0]
    run = run_scenario("pasv-ok", "lftp", "pasv", tmp_path / "cap", server=server)
    texts: list[str | bytes] = [*report.run_result(run), run.server_log, run.result.stdout,
                                run.result.stderr]
    out = tmp_path / "out"
    out.mkdir()
    for name, cap in run.captures.items():
        r = cli("replay", "--json", "--report", out / f"{name}.html", "--annotate",
                out / f"{name}.pcapng", cap)
        assert_sane_exit(r)
        texts += [r.stdout, stderr_of(r)]
    texts += [b for _, b in files_under(out)]
    assert_no_secret(secret, texts, f"lab run with {server}")


@pytest.mark.lab
def test_probe_pcap_is_saved_without_the_password(
    require_lab: None, echo_server: EvilFtpServer, tmp_path: Path
) -> None:
    """`--pcap` keeps the probe's packets for later, annotated, with PASS overwritten in the
    packet bytes — the password the probe typed is in no byte of the file."""
    saved = tmp_path / "probe.pcapng"
    r = cli("pasv", f"127.0.0.1:{echo_server.port}", "--timeout", TIMEOUT, "--user", "bob",
            "--password", PASSWORD, "--pcap", saved)
    assert_sane_exit(r)
    sent = b"".join(b"".join(c.commands) for c in echo_server.connections)
    assert f"PASS {PASSWORD}".encode() in sent, "the password was really used"
    data = saved.read_bytes()
    assert PASSWORD.encode() not in data
    assert b"PASS " in data, "the PASS command is still there, masked"
    assert not (tmp_path / "probe.pcapng.raw").exists()
    from ftptrace.replay import analyze

    assert analyze([(None, saved)]).trace.sessions, "the saved capture still replays"
