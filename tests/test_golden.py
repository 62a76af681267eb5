"""Golden files: every shipped capture replays to exactly its recorded JSON.

A capture recorded from real software (the lab) plus its golden document is how a server's
quirk is kept (compare Zeek's one-pcap-per-quirk btests). Regenerate after an intended
change with FTPTRACE_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ftptrace.render.json import dumps, to_document
from ftptrace.replay import analyze
from shipped import CAPTURES

ROOT = Path(__file__).resolve().parent.parent
UPDATE = os.environ.get("FTPTRACE_UPDATE_GOLDEN") == "1"


def golden_for(capture: Path) -> Path:
    return ROOT / capture.with_name(capture.name.split(".")[0] + ".json")


def test_captures_are_shipped() -> None:
    assert len(CAPTURES) >= 10, "captures/ should hold the lab's recorded scenarios"


@pytest.mark.parametrize("capture", CAPTURES, ids=str)
def test_replay_matches_golden(capture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    text = dumps(to_document(analyze([(None, capture)])))
    golden = golden_for(capture)
    if UPDATE:
        golden.write_text(text)
    assert golden.exists(), f"no golden file for {capture}: run with FTPTRACE_UPDATE_GOLDEN=1"
    assert json.loads(text) == json.loads(golden.read_text())
    assert text == golden.read_text(), "same content, different bytes: output is not stable"


FORMAT_VARIANTS = {
    "captures/formats/reject-client.pcapng": "captures/pasv-range-not-forwarded-reject/client.pcap",
    "captures/formats/port-ok-server.pcapng.gz": "captures/port-ok/server.pcap",
    "captures/formats/ipv6-epsv-client.pcap.gz": "captures/ipv6-epsv/client.pcap",
}


@pytest.mark.parametrize(("variant", "source"), sorted(FORMAT_VARIANTS.items()))
def test_format_variants_replay_like_their_source(
    variant: str, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pcapng and gzip containers of the same packets give the same document."""
    monkeypatch.chdir(ROOT)

    def doc(path: str) -> str:
        text = dumps(to_document(analyze([(None, Path(path))])))
        return text.replace(json.dumps(path), '"CAPTURE"')

    assert doc(variant) == doc(source)
