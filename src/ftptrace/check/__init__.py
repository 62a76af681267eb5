"""`ftptrace check`: the field guide's procedure E as one command (see `ladder`)."""

from __future__ import annotations

from ftptrace.check.ladder import CheckReport, run_check
from ftptrace.check.state import CheckOptions
from ftptrace.check.steps import STEPS, Status, StepResult

__all__ = ["STEPS", "CheckOptions", "CheckReport", "Status", "StepResult", "run_check"]
