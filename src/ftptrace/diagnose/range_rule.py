"""The passive range: which of a server's passive ports work, across sessions.

Not a registered rule: one session cannot tell a partly forwarded range (say, the router
forwards 50000-50009 while the server picks from 50000-50099) from bad luck, so the ports
are gathered per server as sessions complete and judged at the end (`Diagnosis.finish`).
"""

from __future__ import annotations

from collections.abc import Iterator

from ftptrace.diagnose.findings import Code, Finding, Severity, Where
from ftptrace.diagnose.hints import RANGE_HINT
from ftptrace.diagnose.placement import never_arrived
from ftptrace.diagnose.registry import evidence, port_list
from ftptrace.model import FrameRef, Outcome, Session, Trace


class PassiveRange:
    """Per server: passive ports that worked and ports that failed, across sessions."""

    def __init__(self) -> None:
        self.by_server: dict[str, tuple[set[int], set[int], list[FrameRef]]] = {}

    def add(self, s: Session) -> None:
        by_server = self.by_server
        for ch in s.data_channels:
            if not ch.passive or ch.inferred:
                continue
            # never_arrived wants no connection: test it only for those.
            missing = ch.connection is None
            if missing and not never_arrived(s, ch):
                continue
            entry = by_server.get(ch.expected.resp_ip)
            if entry is None:
                entry = by_server[ch.expected.resp_ip] = (set(), set(), [])
            ok, bad, refs = entry
            if ch.outcome is Outcome.ESTABLISHED:
                ok.add(ch.expected.resp_port)
            elif ch.outcome in (Outcome.REFUSED, Outcome.UNANSWERED) or missing:
                bad.add(ch.expected.resp_port)
                if len(refs) < 10:
                    refs.extend(evidence(ch.connection.syn if ch.connection else ch.announced_ref))

    def findings(self) -> list[Finding]:
        out = []
        for server, (ok, bad, refs) in sorted(self.by_server.items()):
            if ok and bad:
                out.append(
                    Finding(
                        code=Code.PASSIVE_RANGE_PARTIALLY_FORWARDED,
                        severity=Severity.ERROR,
                        where=Where.SERVER_ROUTER,
                        summary=f"passive ports of {server}: {port_list(ok)} work, "
                        f"{port_list(bad)} fail — the router likely forwards only "
                        f"{min(ok)}-{max(ok)}",
                        hint=RANGE_HINT + " Make the forwarded range and the server's range "
                        "identical.",
                        evidence=tuple(refs[:10]),
                    )
                )
        return out


def passive_range(trace: Trace) -> Iterator[Finding]:
    """PASSIVE_RANGE_PARTIALLY_FORWARDED over a whole trace at once (see `PassiveRange`)."""
    acc = PassiveRange()
    for s in trace.sessions:
        acc.add(s)
    yield from acc.findings()
