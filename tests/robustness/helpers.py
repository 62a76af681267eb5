"""Shared helpers for the robustness tests: a fast in-process CLI and leak checks.

`typer.testing.CliRunner.invoke` rebuilds the click command tree from the typer app on
every call (about 50 ms); the hypothesis tests call the CLI hundreds of times, so the
command is built once and handed to the runner.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from unittest import mock

import typer.main
import typer.testing
from typer.testing import CliRunner, Result

from ftptrace.cli import app

_RUNNER = CliRunner()
_COMMAND: Any = None


def cli(*args: str | Path) -> Result:
    """`ftptrace ARGS…` in process; the result's exception is None or SystemExit."""
    global _COMMAND
    if _COMMAND is None:
        _COMMAND = typer.main.get_command(app)
    argv = [str(a) for a in args]
    if hasattr(typer.testing, "_get_command"):
        with mock.patch.object(typer.testing, "_get_command", return_value=_COMMAND):
            return _RUNNER.invoke(app, argv)
    return _RUNNER.invoke(app, argv)  # pragma: no cover - another typer version


def no_traceback(result: Result) -> None:
    """A clean run: no exception escaped, and an exit status ftptrace documents."""
    exc = result.exception
    assert exc is None or isinstance(exc, SystemExit), f"{type(exc).__name__}: {exc}"
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.output[-2000:])
    assert "Traceback" not in result.output


def stderr_of(result: Result) -> str:
    try:
        return result.stderr
    except ValueError:  # pragma: no cover - streams not separated
        return ""


def assert_sane_exit(result: Result) -> None:
    """Exit 2 only with a one-line reason and nothing else; 0/1 with a real document."""
    no_traceback(result)
    if result.exit_code == 2:
        lines = [ln for ln in stderr_of(result).splitlines() if ln.strip()]
        assert lines and all(ln.startswith("ftptrace: ") for ln in lines), result.output


def json_doc(result: Result) -> dict[str, Any]:
    doc = json.loads(result.stdout)
    assert isinstance(doc, dict) and doc["schema"] == "ftptrace/1"
    return doc


def assert_no_secret(secret: str, texts: Iterable[str | bytes], where: str = "") -> None:
    """`secret` appears in none of `texts` (as text, UTF-8 bytes or JSON-escaped)."""
    forms = {secret.encode(), json.dumps(secret)[1:-1].encode()}
    for i, t in enumerate(texts):
        b = t.encode("utf-8", "surrogateescape") if isinstance(t, str) else t
        for form in forms:
            assert form not in b, f"password leaked in {where or 'output'} #{i}"


def files_under(root: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()]
