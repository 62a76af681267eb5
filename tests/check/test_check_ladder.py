"""The check ladder against a real server on loopback: which step fails first, and why."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ftptrace.check import CheckOptions, Status, run_check
from ftptrace.check.dns import Resolution
from ftptrace.check.ladder import standing_of
from ftptrace.check.report import check_document
from ftptrace.cli import app
from ftptrace.diagnose.findings import Code

from .conftest import Server


def opts(server: Server, **kw: object) -> CheckOptions:
    base: dict[str, object] = {"host": server.host, "timeout": 2.0, "sniff": False}
    base.update(kw)
    return CheckOptions(**base)  # type: ignore[arg-type]


def statuses(report: object) -> dict[str, str]:
    return {s.id: s.status.value for s in report.steps}  # type: ignore[attr-defined]


def test_every_step_that_can_run_on_the_server_passes(ftp_server: Server) -> None:
    r = run_check(opts(ftp_server, upload=True, upload_dir="upload"))
    assert r.standing == "server" and r.first_failure is None
    st = statuses(r)
    for step in ("loopback", "login", "pasv-list", "pasv-download", "port-list",
                 "port-download", "upload"):
        assert st[step] == "pass", (step, [s for s in r.steps if s.id == step])
    assert st["lan"] == st["control-port"] == st["hairpin"] == "skipped"
    up = next(s for s in r.steps if s.id == "upload")
    assert "DELE" in up.summary and not up.warnings
    assert not list((ftp_server.root / "upload").iterdir()), "the test file was deleted"
    pasv = next(s for s in r.steps if s.id == "pasv-list")
    assert any(line.startswith("← 227") for line in pasv.evidence)
    assert all(s.seconds >= 0 for s in r.steps)


def test_a_missing_test_file_fails_the_downloads_only(ftp_server: Server) -> None:
    r = run_check(opts(ftp_server, file="nothere.jpg"))
    assert r.first_failure is not None and r.first_failure.id == "pasv-download"
    st = statuses(r)
    assert st["pasv-list"] == st["port-list"] == "pass"
    assert st["port-download"] == "fail"
    step = r.first_failure
    assert "nothere.jpg" in step.summary and "step 1" in step.summary
    assert step.checklist, "a failed step says what to check"


def test_nothing_listening_stops_the_ladder_at_the_first_step(ftp_server: Server) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    r = run_check(CheckOptions(host=f"127.0.0.1:{free}", timeout=2.0, sniff=False))
    assert r.first_failure is not None and r.first_failure.id == "loopback"
    assert "start the server" in r.first_failure.checklist[0]
    for s in r.steps:
        if s.id in ("login", "pasv-list", "port-list", "hairpin"):
            assert s.status is Status.SKIPPED and "does not work even on itself" in s.summary
    assert Code.CONTROL_REFUSED in {f.code for f in r.analysis.findings}


def test_a_refused_login_is_named_and_its_checklist_comes_first(ftp_server: Server) -> None:
    r = run_check(opts(ftp_server, user="bob", password="wrong"))
    first = r.first_failure
    assert first is not None and first.id == "loopback" and "login refused" in first.summary
    assert "anonymous_enable" in first.checklist[0]
    assert "wrong" not in json.dumps(check_document(r)), "passwords never appear"


def test_uploads_refused_by_the_server(ftp_server: Server) -> None:
    r = run_check(opts(ftp_server, upload=True))  # the root is read-only
    up = next(s for s in r.steps if s.id == "upload")
    assert up.status is Status.FAIL
    assert any("write_enable" in item for item in up.checklist)


# Every address below is on loopback: a test never sends a packet anywhere else.
@pytest.mark.parametrize(
    ("answer", "status", "text"),
    [
        (Resolution(name="ftp.example.test", addresses=("127.0.0.7",), ttl=300, source="t"),
         "pass", "the global address"),
        (Resolution(name="ftp.example.test", addresses=("127.0.0.99",), ttl=300, source="t"),
         "fail", "the record is stale"),
        (Resolution(name="ftp.example.test", addresses=(), ttl=None, source="t",
                    error="NXDOMAIN"), "fail", "does not resolve"),
    ],
)
def test_the_dynamic_dns_step(ftp_server: Server, answer: Resolution, status: str,
                              text: str) -> None:
    asked: list[str] = []

    def resolver(name: str, timeout: float) -> Resolution:
        asked.append(name)
        return answer

    r = run_check(opts(ftp_server, hostname="ftp.example.test", public_ip="127.0.0.7",
                       resolver=resolver))
    step = next(s for s in r.steps if s.id == "hostname")
    assert asked == ["ftp.example.test"]
    assert step.status.value == status and text in step.summary
    if status == "fail":
        assert step.checklist


@pytest.mark.parametrize(("ttl", "warning"), [(30, "very low"), (86400, "high"), (300, None)])
def test_ttl_extremes_are_warned_about(ftp_server: Server, ttl: int, warning: str | None) -> None:
    def resolver(name: str, timeout: float) -> Resolution:
        return Resolution(name=name, addresses=("127.0.0.7",), ttl=ttl, source="test")

    r = run_check(opts(ftp_server, hostname="ftp.example.test", public_ip="127.0.0.7",
                       resolver=resolver))
    step = next(s for s in r.steps if s.id == "hostname")
    assert step.status is Status.PASS
    if warning is None:
        assert not step.warnings
    else:
        assert warning in step.warnings[0]


def test_hairpin_runs_from_the_lan_side_when_the_global_address_is_known(
        ftp_server: Server) -> None:
    # On loopback the "global address" 127.0.0.2 reaches nothing: the hairpin step fails.
    r = run_check(opts(ftp_server, public_ip="127.0.0.2"))
    hp = next(s for s in r.steps if s.id == "hairpin")
    assert hp.status is Status.FAIL and hp.target == f"127.0.0.2:{ftp_server.port}"
    assert any("NAT loopback" in item for item in hp.checklist)


def test_standing() -> None:
    assert standing_of("127.0.0.1") == "server"
    assert standing_of("::1") == "server"
    assert standing_of("192.0.2.10") == "internet"
    assert standing_of("10.250.250.250") == "lan"


def test_cli_json_and_exit_status(ftp_server: Server) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["check", ftp_server.host, "--json", "--timeout", "2"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["schema"] == "ftptrace/1" and doc["sessions"]
    steps = doc["check"]["steps"]
    assert [s["id"] for s in steps][:2] == ["loopback", "lan"]
    assert doc["check"]["first_failure"] is None
    res = runner.invoke(app, ["check", ftp_server.host, "--file", "nope", "--timeout", "2"])
    assert res.exit_code == 1
    assert "Start with the first failing step: PASV download" in res.output
    res = runner.invoke(app, ["check", "127.0.0.1:99999"])
    assert res.exit_code == 2
