"""The check's result as the `check` key of an `ftptrace/1` document."""

from __future__ import annotations

from typing import Any

from ftptrace.check.ladder import CheckReport
from ftptrace.check.steps import StepResult


def step_dict(s: StepResult) -> dict[str, Any]:
    from ftptrace.render.json import finding_dict

    spec = s.spec
    return {
        "id": s.id,
        "title": spec.title,
        "guide": spec.guide,
        "table": spec.table,
        "status": s.status.value,
        "seconds": round(s.seconds, 3),
        "target": s.target,
        "summary": s.summary,
        "evidence": list(s.evidence),
        "warnings": list(s.warnings),
        "checklist": list(s.checklist),
        "findings": [finding_dict(f) for f in s.findings],
    }


def check_dict(r: CheckReport) -> dict[str, Any]:
    first = r.first_failure
    return {
        "host": r.host,
        "ip": r.ip,
        "port": r.port,
        "standing": r.standing,
        "public_ip": r.public_ip,
        "public_from": r.public_from or None,
        "seconds": round(r.seconds, 3),
        "first_failure": first.id if first is not None else None,
        "steps": [step_dict(s) for s in r.steps],
    }


def check_document(r: CheckReport) -> dict[str, Any]:
    """Sessions, data channels and findings of every probe the check ran, plus `check`."""
    from ftptrace.render.json import to_document

    doc = to_document(r.analysis)
    doc["check"] = check_dict(r)
    return doc
