"""Shared fixtures. Lab tests need root and real tools; in CI a missing one is a failure."""

from __future__ import annotations

import os
import shutil

import pytest

LAB_TOOLS = ("ip", "tcpdump", "iptables", "nft", "vsftpd", "curl", "lftp", "tshark")


def lab_unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "lab tests need root"
    missing = [t for t in LAB_TOOLS if shutil.which(t) is None]
    if missing:
        return "lab tests need: " + ", ".join(missing)
    return None


@pytest.fixture(scope="session")
def require_lab() -> None:
    """Skip a lab test where the lab cannot exist — but fail instead under CI=true."""
    reason = lab_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: lab tests may not skip)")
    pytest.skip(reason)
