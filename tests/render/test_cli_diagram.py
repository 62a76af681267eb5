"""`ftptrace diagram`: every source and format through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.render.conftest import FIXTURES, load_fixture
from tests.render.test_mermaid import validate
from typer.testing import CliRunner

from ftptrace.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, ["diagram", *args])
    return r.exit_code, r.output


@pytest.mark.parametrize("fmt", ["terminal", "mermaid", "svg", "html"])
def test_from_json_every_format(fmt: str) -> None:
    code, out = run("--from-json", str(FIXTURES / "pasv_private_address.json"), "--format", fmt)
    assert code == 1, "error findings: exit 1, as replay"
    assert "192.168.1.2" in out
    if fmt == "terminal":
        assert out.isascii(), "not a tty: plain ASCII"
    if fmt == "mermaid":
        validate(out)


def test_no_error_findings_exit_0(tmp_path: Path) -> None:
    code, out = run("--from-json", str(FIXTURES / "port_ok.json"), "--ascii")
    assert code == 0 and "server connects" in out


def test_output_file(tmp_path: Path) -> None:
    out = tmp_path / "d.svg"
    code, printed = run("--from-json", str(FIXTURES / "port_ok.json"), "-f", "svg", "-o", str(out))
    assert code == 0 and printed == ""
    assert out.read_text().startswith("<?xml")
    txt = tmp_path / "d.txt"
    run("--from-json", str(FIXTURES / "port_ok.json"), "-o", str(txt))
    assert txt.read_text().isascii() and "client" in txt.read_text()


def test_explain() -> None:
    code, out = run("--explain", "both", "--server-port-range", "50000-50010")
    assert code == 0
    assert "TABLE E4" in out and "50000-50010" in out and "myths" in out
    assert all(len(line) <= 80 for line in out.splitlines())
    code, out = run("--explain", "pasv", "-f", "mermaid")
    assert code == 0
    validate(out)


@pytest.mark.parametrize(
    "args",
    [[], ["--explain", "sideways"], ["--explain", "port", "--server-port-range", "1-2"],
     ["--from-json", "/nonexistent.json"], ["--server-port-range", "50000-50010", "x.pcap"],
     ["--explain", "port", "--format", "png"], ["--explain", "port", "--from-json", "x"]],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    code, _ = run(*args)
    assert code == 2


def test_not_a_document(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "other"}')
    assert run("--from-json", str(bad))[0] == 2
    bad.write_text("{")
    assert run("--from-json", str(bad))[0] == 2


def test_capture_and_its_json_render_the_same(tmp_path: Path) -> None:
    cap = ROOT / "captures" / "pasv-ok" / "client.pcap"
    if not cap.exists():
        pytest.skip("shipped lab capture missing")
    code, direct = run(f"client={cap}", "-f", "mermaid")
    assert code == 0
    doc = runner.invoke(app, ["replay", "--json", f"client={cap}"]).output
    j = tmp_path / "doc.json"
    j.write_text(doc)
    assert run("--from-json", str(j), "-f", "mermaid") == (0, direct)
    validate(direct)


def test_fixture_helper_loads() -> None:
    assert load_fixture("port_ok")["schema"] == "ftptrace/1"
