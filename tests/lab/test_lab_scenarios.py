"""Every scenario, for real: the client does what the scenario declares, and a replay of the
lab's own captures gives the declared outcome, finding codes and placement.

All scenarios are run once per module, in parallel (each lab has its own namespace prefix),
so the whole catalogue costs about as long as its slowest scenarios.
Depends on the replay engine (`ftptrace.replay.analyze`) for the replay assertions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ftptrace.diagnose.findings import Severity
from ftptrace.lab.runner import LabRun
from ftptrace.lab.scenarios import SCENARIOS
from ftptrace.lab.shipped import run_many
from ftptrace.model import Outcome
from ftptrace.replay import Analysis, analyze

pytestmark = pytest.mark.lab

NAMES = [s.name for s in SCENARIOS]

REPLAY_GAPS: dict[str, str] = {
    # Known differences between the replay engine and the lab's ground truth. strict=True:
    # when the engine learns one of these, the XPASS fails and the entry must go.
}


@pytest.fixture(scope="module")
def runs(require_lab: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, LabRun]:
    root = tmp_path_factory.mktemp("captures")
    results = run_many(NAMES, capture_root=root, jobs=4)
    out: dict[str, LabRun] = {}
    for name, r in results.items():
        assert isinstance(r, LabRun), f"{name}: {r}"
        out[name] = r
    return out


def _detail(r: LabRun) -> str:
    return f"{r.summary}\n{r.result.stderr[-1500:]}\n{r.result.stdout[-500:]}"


@pytest.mark.parametrize("name", NAMES)
def test_client_does_what_the_scenario_declares(runs: dict[str, LabRun], name: str) -> None:
    r = runs[name]
    assert r.succeeded == r.scenario.expect.client_succeeds, _detail(r)
    assert not r.result.timed_out, "the client's own timeouts must end it first"


@pytest.mark.parametrize("name", NAMES)
def test_every_vantage_was_captured(runs: dict[str, LabRun], name: str) -> None:
    r = runs[name]
    assert r.captures, "no captures"
    for vantage, path in r.captures.items():
        assert path.name == f"{vantage}.pcap"
    first = next(iter(r.captures.values()))
    assert first.stat().st_size > 24, "the client's own capture is empty"
    # An empty server.pcap is evidence too: in `hairpin` the SYN never reached the server.


def _analysis(r: LabRun) -> Analysis:
    return analyze([(v, p) for v, p in r.captures.items()])


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(reason=REPLAY_GAPS[n], strict=True))
        if n in REPLAY_GAPS
        else n
        for n in NAMES
    ],
)
def test_replay_gives_declared_outcome_codes_and_placement(
    runs: dict[str, LabRun], name: str
) -> None:
    r = runs[name]
    e = r.scenario.expect
    a = _analysis(r)
    assert not a.unreadable, a.unreadable
    codes = {f.code for f in a.findings}
    assert set(e.codes) <= codes, f"missing {set(e.codes) - codes}; got {sorted(codes)}"
    if e.where is not None:
        placed = {f.where for f in a.findings if f.code in e.codes}
        assert e.where in placed, f"declared {e.where}, placed at {placed}"
    if e.client_succeeds:
        errors = [f for f in a.findings if f.severity is Severity.ERROR and f.code not in e.codes]
        assert not errors, [f"{f.code}@{f.where}: {f.summary}" for f in errors]
    if e.control is not Outcome.ESTABLISHED:
        outcomes = {c.outcome for c in a.trace.control_attempts}
        assert e.control in outcomes, outcomes
        assert not a.trace.sessions
    else:
        assert a.trace.sessions, "no FTP session rebuilt from the captures"
        outcomes = {ch.outcome for s in a.trace.sessions for ch in s.data_channels}
        assert e.data in outcomes, f"declared data {e.data}, saw {outcomes}"


def test_shipped_capture_layout(runs: dict[str, LabRun], tmp_path: Path) -> None:
    from ftptrace.lab.shipped import write_scenario_json

    r = runs["pasv-ok"]
    path = write_scenario_json(r, tmp_path)
    text = path.read_text()
    assert '"client_succeeds": true' in text and '"as_expected": true' in text
