"""The documentation keeps up with what ships."""

from __future__ import annotations

from pathlib import Path

from ftptrace.diagnose.findings import Code

ROOT = Path(__file__).resolve().parent.parent


def test_every_finding_code_is_in_the_catalogue() -> None:
    text = (ROOT / "docs" / "failure-modes.md").read_text()
    missing = [c.value for c in Code if f"| `{c.value}` |" not in text]
    assert missing == []


def test_readme_names_the_two_setup_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "sudo bash scripts/demo.sh" in readme
    assert "sudo bash scripts/test.sh" in readme
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_every_command_has_a_user_guide() -> None:
    for page in ("replay", "probe", "check", "watch", "diagram", "lab", "correlate"):
        assert (ROOT / "docs" / f"{page}.md").exists(), page
