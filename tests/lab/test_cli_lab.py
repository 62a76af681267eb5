"""`ftptrace lab …` without root: one line, exit 2, nothing built (no root needed)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ftptrace.cli import app

runner = CliRunner()

COMMANDS = (
    ["lab", "list"],
    ["lab", "up", "pasv-ok"],
    ["lab", "down"],
    ["lab", "status"],
    ["lab", "exec", "client", "--", "true"],
    ["lab", "run", "pasv-ok"],
    ["lab", "run", "--all"],
    ["lab", "demo"],
)


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[1:3]))
def test_needs_root(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert lines[-1] == "ftptrace: the lab needs root (network namespaces, netfilter, tcpdump)"
    assert "Traceback" not in result.output


def test_run_needs_a_scenario_or_all() -> None:
    result = runner.invoke(app, ["lab", "run"])
    assert result.exit_code == 2
    assert "name a scenario" in result.output


def test_all_takes_no_client() -> None:
    result = runner.invoke(app, ["lab", "run", "--all", "--client", "lftp"])
    assert result.exit_code == 2
