"""`ftptrace replay --json CAPTURE` skips the CLI framework and behaves exactly as through it.

`entry.main` runs that one form itself (start-up without typer and pydantic); these tests
run the same command lines through `entry` and through the typer application and compare
stdout, stderr and exit status, for a good capture, a vantage label, and inputs that fail.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ftptrace.entry import quick_replay_target

ROOT = Path(__file__).resolve().parent.parent
CAPTURE = "captures/pasv-ok/client.pcap"


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        (["replay", "--json", "a.pcap"], "a.pcap"),
        (["replay", "a.pcap", "--json"], "a.pcap"),
        (["replay", "--json", "client=a.pcap"], "client=a.pcap"),
        (["replay", "a.pcap"], None),
        (["replay", "--json"], None),
        (["replay", "--json", "--json"], None),
        (["replay", "--json", "--help"], None),
        (["replay", "--json", "a.pcap", "b.pcap"], None),
        (["replay", "--json", "-"], None),
        (["replay", "--json", ""], None),
        (["check", "--json", "a.pcap"], None),
        (["--json", "replay", "a.pcap"], None),
        ([], None),
    ],
)
def test_only_the_one_form_is_taken(argv: list[str], want: str | None) -> None:
    assert quick_replay_target(argv) == want


def run(how: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    code = {
        "entry": "from ftptrace.entry import main; main()",
        "typer": "from ftptrace.cli import main; main()",
    }[how]
    return subprocess.run(
        [sys.executable, "-c", f"import sys; sys.argv[0] = 'ftptrace'; {code}", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["replay", "--json", CAPTURE],
        ["replay", CAPTURE, "--json"],
        ["replay", "--json", f"client={CAPTURE}"],
        ["replay", "--json", "captures/no-such-file.pcap"],
        ["replay", "--json", "README.md"],
        ["replay", "--json", "captures"],
    ],
    ids=["ok", "json-last", "vantage", "missing", "not-a-capture", "directory"],
)
def test_same_output_and_status_as_through_typer(args: list[str], tmp_path: Path) -> None:
    quick, full = run("entry", args), run("typer", args)
    assert (quick.returncode, quick.stdout, quick.stderr) == (
        full.returncode, full.stdout, full.stderr,
    )
    readable = any(a.endswith(CAPTURE) for a in args)
    assert quick.stdout.startswith('{"schema": "ftptrace/1"') == readable
    assert (quick.returncode == 2) != readable and bool(quick.stderr) != readable


def test_the_quick_form_does_not_load_typer() -> None:
    probe = (
        "import sys; sys.argv = ['ftptrace', 'replay', '--json', '" + CAPTURE + "']\n"
        "import io, contextlib\n"
        "from ftptrace import entry\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    status = entry.quick_replay(entry.quick_replay_target(sys.argv[1:]))\n"
        "print(status, 'typer' in sys.modules, 'pydantic' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=True,
    ).stdout.split()
    assert out[1:] == ["False", "False"]
    assert out[0] in ("0", "1")


def test_other_command_lines_reach_typer() -> None:
    quick, full = run("entry", ["--version"]), run("typer", ["--version"])
    assert quick.returncode == full.returncode == 0
    assert quick.stdout == full.stdout and quick.stdout.startswith("ftptrace ")
