"""Shared fixtures. Lab tests need root and real tools; in CI a missing one is a failure."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

from ftptrace.net import indexer
from ftptrace.net import pcap as pcap_module

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


@pytest.fixture
def helper_on(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every plain classic pcap read with keep_batch goes to a helper process; returns the
    list of IndexedPcap objects made (a spy), so a test can tell the helper really ran."""
    monkeypatch.setattr(pcap_module, "HELPER_MIN_BYTES", 0)
    monkeypatch.setattr("ftptrace.net.indexer.os.cpu_count", lambda: 2)
    made: list[Any] = []
    init = indexer.IndexedPcap.__init__

    def spy(self: indexer.IndexedPcap, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(indexer.IndexedPcap, "__init__", spy)
    return made
