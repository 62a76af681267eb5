"""Typed findings: the single vocabulary every rule, renderer and test speaks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ftptrace.model import FrameRef, slot_twin


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Where(StrEnum):
    """Where along the path a failure sits, as precisely as the evidence allows."""

    CLIENT_HOST = "client-host"
    CLIENT_ROUTER = "client-router"
    INTERNET = "internet"
    SERVER_ROUTER = "server-router"
    SERVER_HOST = "server-host"
    UNKNOWN = "unknown"


class Code(StrEnum):
    CONTROL_REFUSED = "CONTROL_REFUSED"
    CONTROL_UNANSWERED = "CONTROL_UNANSWERED"
    CONTROL_UNREACHABLE = "CONTROL_UNREACHABLE"
    CONTROL_ENCRYPTED = "CONTROL_ENCRYPTED"
    LOGIN_FAILED = "LOGIN_FAILED"
    PASV_PRIVATE_ADDRESS = "PASV_PRIVATE_ADDRESS"
    PASV_ADDRESS_MISMATCH = "PASV_ADDRESS_MISMATCH"
    PASV_THIRD_PARTY = "PASV_THIRD_PARTY"
    PORT_PRIVATE_ADDRESS = "PORT_PRIVATE_ADDRESS"
    PORT_REJECTED = "PORT_REJECTED"
    DATA_REFUSED = "DATA_REFUSED"
    DATA_SYN_UNANSWERED = "DATA_SYN_UNANSWERED"
    DATA_UNREACHABLE = "DATA_UNREACHABLE"
    ACTIVE_CONNECT_FAILED = "ACTIVE_CONNECT_FAILED"
    PASSIVE_RANGE_PARTIALLY_FORWARDED = "PASSIVE_RANGE_PARTIALLY_FORWARDED"
    ACTIVE_SOURCE_PORT_NOT_20 = "ACTIVE_SOURCE_PORT_NOT_20"
    DATA_NOT_CAPTURED = "DATA_NOT_CAPTURED"
    DATA_NEVER_ARRIVED = "DATA_NEVER_ARRIVED"
    TRANSFER_FAILED = "TRANSFER_FAILED"
    PROTOCOL_ANOMALY = "PROTOCOL_ANOMALY"
    ALG_REWRITE = "ALG_REWRITE"
    ALG_MISSED = "ALG_MISSED"
    """An address crossed a NAT inside PORT/EPRT/227 unrewritten (multi-vantage only)."""
    CAPTURE_DAMAGED = "CAPTURE_DAMAGED"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One diagnosed fact: what is wrong, where, why we think so, and what to change."""

    code: Code
    severity: Severity
    where: Where
    summary: str
    hint: str
    evidence: tuple[FrameRef, ...] = ()


_FINDING_TWIN = slot_twin(Finding)
_new: Any = object.__new__


def make_finding(
    *,
    code: Code,
    severity: Severity,
    where: Where,
    summary: str,
    hint: str,
    evidence: tuple[FrameRef, ...] = (),
) -> Finding:
    """`Finding(...)` with the same keywords, a third of the cost: the frozen dataclass's
    `__init__` stores each field through `object.__setattr__`; this fills a twin of the same
    layout and makes it a Finding, as `model.make_session` does (see there). The rules
    build one for nearly every other session of a capture."""
    o = _new(_FINDING_TWIN)
    o.code = code
    o.severity = severity
    o.where = where
    o.summary = summary
    o.hint = hint
    o.evidence = evidence
    o.__class__ = Finding
    made: Finding = o
    return made
