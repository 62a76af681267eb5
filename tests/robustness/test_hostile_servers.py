"""Live probes and `check` against a malicious FTP server of our own on 127.0.0.1.

Two promises are tested: a 227 that points at a third party is never followed unless the
user says --allow-third-party (asserted on the socket layer: every connect() is recorded,
and any destination off loopback is refused before a SYN can leave — the network rule);
and a server that stays silent, drips, never ends its reply or hangs up mid-reply costs
at most --timeout (+1 s), ends with exit 1 and says why.
"""

from __future__ import annotations

import errno
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from . import evilftp
from .evilftp import EvilFtpServer
from .helpers import assert_sane_exit, cli, json_doc

TIMEOUT = 1.0


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    """Every TCP connect() in this process; anything off loopback is refused, unsent."""
    seen: list[tuple[str, int]] = []
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            host = str(address[0])
            seen.append((host, int(address[1])))
            if not (host.startswith("127.") or host == "::1"):
                raise OSError(errno.ENETUNREACH, "blocked by the test: not loopback")
        real_connect(self, address)

    def no_connect_ex(self: socket.socket, address: Any) -> int:
        raise AssertionError(f"connect_ex({address!r}) bypasses the guard")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", no_connect_ex)
    yield seen


def _off_loopback(seen: list[tuple[str, int]]) -> list[tuple[str, int]]:
    return [(h, p) for h, p in seen if not (h.startswith("127.") or h == "::1")]


# --- the bounce bait ----------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "follow"), [("pasv", []), ("pasv", ["--follow-announced"]),
                                              ("epsv", [])], ids=["pasv", "follow", "epsv"])
def test_third_party_227_is_never_dialled(connects: list[tuple[str, int]], mode: str,
                                          follow: list[str]) -> None:
    with EvilFtpServer(evilftp.echoing()) as srv:
        r = cli(mode, f"127.0.0.1:{srv.port}", "--timeout", TIMEOUT, "--json",
                "--user", "bob", "--password", "pw-Bounce-1", *follow)
    assert_sane_exit(r)
    assert not _off_loopback(connects), connects
    doc = json_doc(r)
    if mode == "epsv":
        return  # the evil EPSV reply carries no address: nothing to follow
    (attempt,) = doc["probe"]["attempts"]
    assert attempt["announced"] == f"{evilftp.THIRD_PARTY}:50000"
    assert attempt["dialed"].startswith("127.0.0.1:")
    assert "8.8.8.8" in (attempt["choice"] or "")
    for s in doc["sessions"]:
        for ch in s["data_channels"]:
            conn = ch["connection"] or {"resp": {"ip": ""}}
            assert conn["resp"]["ip"] != evilftp.THIRD_PARTY


def test_allow_third_party_is_what_makes_the_probe_dial_it(
        connects: list[tuple[str, int]]) -> None:
    """The control experiment: with --allow-third-party the probe does try 8.8.8.8 (the
    guard refuses it before any packet leaves), so the test above can see a dial."""
    with EvilFtpServer(evilftp.echoing()) as srv:
        r = cli("pasv", f"127.0.0.1:{srv.port}", "--timeout", TIMEOUT, "--json",
                "--follow-announced", "--allow-third-party")
    assert_sane_exit(r)
    assert _off_loopback(connects) == [(evilftp.THIRD_PARTY, 50000)]
    assert json_doc(r)["probe"]["attempts"][0]["socket_result"] == "unreachable"


def test_check_never_dials_the_third_party(connects: list[tuple[str, int]]) -> None:
    with EvilFtpServer(evilftp.echoing()) as srv:
        r = cli("check", f"127.0.0.1:{srv.port}", "--timeout", TIMEOUT, "--json")
    assert_sane_exit(r)
    assert r.exit_code == 1
    assert not _off_loopback(connects), connects
    json.loads(r.stdout)


def test_bare_code_reply_to_port(connects: list[tuple[str, int]]) -> None:
    """'500' with no text (RFC 959 allows it) used to crash the active probe (IndexError)."""
    for mode in ("port", "eprt"):
        with EvilFtpServer(evilftp.echoing()) as srv:
            r = cli(mode, f"127.0.0.1:{srv.port}", "--timeout", TIMEOUT)
        assert_sane_exit(r)
        assert r.exit_code == 1 and "refused" in r.stdout


# --- servers that waste our time -----------------------------------------------------------------

MISBEHAVING = {
    "silent": evilftp.silent,
    "slowloris": evilftp.slowloris,
    "endless-multiline": evilftp.endless_multiline,
    "close-mid-reply": evilftp.close_mid_reply,
}


def _timed(*args: object) -> tuple[Any, float]:
    start = time.monotonic()
    r = cli(*(str(a) for a in args))
    return r, time.monotonic() - start


@pytest.mark.parametrize("name", sorted(MISBEHAVING))
def test_probe_against_a_misbehaving_server_is_bounded(
        connects: list[tuple[str, int]], name: str) -> None:
    with EvilFtpServer(MISBEHAVING[name]) as srv:
        r, took = _timed("pasv", f"127.0.0.1:{srv.port}", "--timeout", TIMEOUT, "--json",
                         "--user", "bob", "--password", "pw-Slow-2")
    assert_sane_exit(r)
    assert took <= TIMEOUT + 1.0, f"{name}: {took:.2f}s"
    assert r.exit_code == 1, "a probe that never reached a data channel did not pass"
    doc = json_doc(r)
    assert doc["probe"]["attempts"] == []
    problems = [t["text"] for t in doc["transcript"] if t["kind"] == "problem"]
    assert problems, "the transcript says why it stopped"
    assert not _off_loopback(connects)


def test_probe_terminal_output_says_why_it_stopped() -> None:
    with EvilFtpServer(evilftp.silent) as srv:
        r = cli("port", f"127.0.0.1:{srv.port}", "--timeout", TIMEOUT)
    assert_sane_exit(r)
    assert r.exit_code == 1
    assert "No problems found" not in r.stdout
    assert f"No data channel was tried: no answer within {TIMEOUT:g}s" in r.stdout


@pytest.mark.parametrize("name", ["silent", "endless-multiline", "close-mid-reply"])
def test_check_against_a_misbehaving_server_is_bounded(name: str) -> None:
    with EvilFtpServer(MISBEHAVING[name]) as srv:
        r, took = _timed("check", f"127.0.0.1:{srv.port}", "--timeout", TIMEOUT, "--json")
    assert_sane_exit(r)
    assert took <= TIMEOUT + 1.0, f"{name}: {took:.2f}s"
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert "fail" in json.dumps(doc)


def test_a_dripping_server_cannot_stretch_the_probe() -> None:
    """Each login reply completes, at one byte per 0.1 s — just inside --timeout 1 per
    step, so greeting, USER and PASS each take ~0.8 s: with a per-step deadline the probe
    took ~2.5 s (a slowloris server multiplied --timeout by the number of steps). The
    login now shares one deadline (`ProbeSession.begin`), so the run stops at --timeout
    and says that the login ran out of its budget."""
    with EvilFtpServer(evilftp.dripping(0.1)) as srv:
        r, took = _timed("pasv", f"127.0.0.1:{srv.port}", "--timeout", TIMEOUT, "--json")
    assert_sane_exit(r)
    assert took <= TIMEOUT + 1.0, f"{took:.2f}s for --timeout {TIMEOUT:g}"
    assert r.exit_code == 1
    problems = [t["text"] for t in json_doc(r)["transcript"] if t["kind"] == "problem"]
    assert any("the login ran out of its time budget" in p for p in problems), problems


def test_c1_controls_from_the_server_never_reach_the_terminal() -> None:
    handler = evilftp.echoing(greeting=b"220 \xc2\x9b2J\xc2\x9d52;c;cHduZWQ=\xc2\x9c hi",
                              transfer=b"425 \xc2\x9b31m no")
    with EvilFtpServer(handler) as srv:
        for args in (["pasv"], ["check"]):
            r = cli(*args, f"127.0.0.1:{srv.port}", "--timeout", TIMEOUT)
            assert_sane_exit(r)
            assert "220" in r.stdout or args == ["check"]
            assert not any(chr(c) in r.stdout for c in range(0x80, 0xA0)), args
