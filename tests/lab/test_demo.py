"""The README's main job, `ftptrace lab demo`, run for real: it must show what it promises."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.lab
def test_demo_runs_every_scenario_and_the_live_sweep(require_lab: None) -> None:
    before = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    done = subprocess.run(
        [sys.executable, "-m", "ftptrace", "lab", "demo"],
        capture_output=True, text=True, timeout=240, check=False,
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert out.count("(as expected)") == 5, out
    for code in ("PASV_PRIVATE_ADDRESS", "DATA_SYN_UNANSWERED", "PORT_REJECTED", "CONTROL_REFUSED"):
        assert code in out
    assert "ftptrace says: no problems found." in out  # the healthy scenario stays clean
    assert "forwarded range: 50000-50004" in out  # the live sweep, from a lab client
    after = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert after == before, "the demo left network namespaces behind"
