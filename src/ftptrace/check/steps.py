"""The ladder as data: the field guide's procedure E, one step per row.

Each step names the guide's step it automates, the table (E1–E6) whose checklist applies
when it fails, and what passing it proves. The order is the guide's: from the server
itself outwards, so the first failing step is where to start looking.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ftptrace.diagnose.findings import Finding


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True, kw_only=True)
class StepSpec:
    id: str
    title: str
    guide: str
    table: str
    proves: str


STEPS: tuple[StepSpec, ...] = (
    StepSpec(id="loopback", title="Loopback (127.0.0.1, on the server)", guide="step 2",
             table="E1", proves="the server runs, listens, lets you log in and lists files"),
    StepSpec(id="lan", title="LAN address", guide="step 3", table="E2",
             proves="the server answers other machines of its LAN"),
    StepSpec(id="public-address", title="Global address", guide="step 4", table="E3",
             proves="which address the internet must use"),
    StepSpec(id="control-port", title="Control port at the global address", guide="step 5",
             table="E3", proves="the router forwards the control port to the server"),
    StepSpec(id="login", title="Login", guide="step 6", table="E1",
             proves="USER/PASS are accepted"),
    StepSpec(id="pasv-list", title="PASV listing", guide="step 6", table="E5",
             proves="a passive data connection gets through (one port of the range)"),
    StepSpec(id="pasv-download", title="PASV download of the test file", guide="step 6",
             table="E5", proves="another passive port works and the file can be read"),
    StepSpec(id="port-list", title="PORT listing", guide="step 6", table="E5",
             proves="the server's connection back to the client gets through"),
    StepSpec(id="port-download", title="PORT download of the test file", guide="step 6",
             table="E5", proves="active mode works for transfers too"),
    StepSpec(id="upload", title="Upload and delete a small file", guide="step 6",
             table="upload", proves="uploads are allowed (only with --upload)"),
    StepSpec(id="hostname", title="Host name (dynamic DNS)", guide="step 9", table="E6",
             proves="the name points at the current global address"),
    StepSpec(id="hairpin", title="Global address from inside the LAN (hairpin)",
             guide="step 6", table="hairpin",
             proves="the router loops LAN traffic for its own global address back in"),
)
BY_ID = {s.id: s for s in STEPS}


@dataclass(frozen=True, slots=True, kw_only=True)
class StepResult:
    id: str
    status: Status
    seconds: float = 0.0
    target: str | None = None
    """The address:port this step talked to."""
    summary: str = ""
    """One line: what happened, or why the step was skipped."""
    evidence: tuple[str, ...] = ()
    """Transcript lines and packet facts behind the verdict."""
    warnings: tuple[str, ...] = ()
    checklist: tuple[str, ...] = ()
    """On failure: what to look at (the guide's table for this step, most likely first)."""
    findings: tuple[Finding, ...] = ()

    @property
    def spec(self) -> StepSpec:
        return BY_ID[self.id]
