"""A layout-free sequence model of an ``ftptrace/1`` document: lanes, arrows, notes.

Why a model between the document and the pictures: the terminal, Mermaid, SVG and HTML
renderers must tell the same story (which arrow died at which hop, and why), so the story is
decided once, here, and each renderer only lays it out. The input is the JSON document and
nothing else, so a capture, `--from-json` of a replay and a probe's output render the same.

Lanes are the boxes along the path (client | client router | internet | server router |
server); only those the evidence supports appear. Capture points sit *between* boxes
(issue 6's vantage labels), so a connection seen at `server-router-wan` but not at
`server-router-lan` died in the server router box.

This module holds the parts (lanes, steps, path geometry, how to read the document);
`diagram_story` tells the story with them, and `build_diagram` here hands the document to it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ftptrace.vantages import POSITIONS

Doc = Mapping[str, Any]


class Role(StrEnum):
    """A box along the path, in path order (the values are the findings' `where` words)."""

    CLIENT = "client"
    CLIENT_ROUTER = "client-router"
    INTERNET = "internet"
    SERVER_ROUTER = "server-router"
    SERVER = "server"

    @property
    def label(self) -> str:
        return self.value.replace("-", " ")

    @property
    def position(self) -> int:
        return list(Role).index(self)


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"
    MUTED = "muted"
    """Not attempted, unknown, or a teaching aside: drawn grey."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Lane:
    role: Role
    details: tuple[str, ...] = ()
    """Addresses (or a short description) printed under the lane's title."""

    @property
    def title(self) -> str:
        return self.role.label


@dataclass(frozen=True, slots=True, kw_only=True)
class Arrow:
    """A message from `src` towards `dst`; it stops at `died_at` when it never got further."""

    src: Role
    dst: Role
    label: str
    status: Status = Status.OK
    reply: bool = False
    died_at: Role | None = None
    notes: tuple[str, ...] = ()
    """Finding summaries shown beside the arrow."""

    @property
    def end(self) -> Role:
        return self.died_at if self.died_at is not None else self.dst


@dataclass(frozen=True, slots=True, kw_only=True)
class Note:
    """Text over one lane, or spanning from `over[0]` to `over[-1]`."""

    over: tuple[Role, ...]
    text: str
    status: Status = Status.MUTED


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    title: str


Step = Arrow | Note | Section


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagram:
    title: str
    lanes: tuple[Lane, ...]
    steps: tuple[Step, ...]

    @property
    def roles(self) -> tuple[Role, ...]:
        return tuple(lane.role for lane in self.lanes)


# --- vantage points: where a capture sits along the path (issue 6 labels) -------------------

VANTAGE_POSITIONS = POSITIONS
"""Boxes sit at integer positions (Role.position); capture points between them."""


def hop_positions(path: Sequence[Mapping[str, Any]]) -> list[float]:
    """Position of each hop: by its vantage label, else spread by list order (client first)."""
    n = len(path)
    out: list[float] = []
    for i, hop in enumerate(path):
        pos = VANTAGE_POSITIONS.get(str(hop.get("vantage") or "").lower())
        out.append(pos if pos is not None else (4.0 * i / (n - 1) if n > 1 else 0.0))
    return out


def _box_between(seen: float, unseen: float) -> Role:
    """The box a packet died in: the first box after the last point that saw it.

    A point that is itself a box (client, internet, server) that did not see the packet is
    where it died when no box lies strictly between.
    """
    step = 1 if unseen > seen else -1
    boxes = [r for r in Role
             if (r.position - seen) * step > 0 and (unseen - r.position) * step >= 0]
    boxes.sort(key=lambda r: r.position * step)
    return boxes[0] if boxes else (Role.SERVER if step > 0 else Role.CLIENT)


# --- small helpers over the JSON ------------------------------------------------------------


def endpoint(e: Mapping[str, Any] | None) -> str:
    """`ip:port`, brackets around IPv6 (RFC 3986 §3.2.2 style)."""
    if not e:
        return "?"
    ip, port = str(e.get("ip")), e.get("port")
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


WHERE_ROLE: dict[str, Role] = {
    "client-host": Role.CLIENT,
    "client-router": Role.CLIENT_ROUTER,
    "internet": Role.INTERNET,
    "server-router": Role.SERVER_ROUTER,
    "server-host": Role.SERVER,
}
_SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}
LOGIN_VERBS = frozenset({"USER", "PASS", "ACCT"})
ANNOUNCE_VERBS = frozenset({"PORT", "PASV", "EPRT", "EPSV", "LPRT", "LPSV"})
TRANSFER_VERBS = frozenset({"LIST", "NLST", "MLSD", "RETR", "STOR", "STOU", "APPE"})
SHOWN_VERBS = LOGIN_VERBS | ANNOUNCE_VERBS | TRANSFER_VERBS | {"AUTH", "QUIT"}
MASKED_VERBS = frozenset({"PASS", "ACCT", "ADAT"})


def command_text(cmd: Mapping[str, Any]) -> str:
    """The command as typed, with credentials masked whatever the document holds."""
    verb = str(cmd.get("command") or "?").upper()
    arg = cmd.get("arg")
    if verb in MASKED_VERBS:
        return f"{verb} ****"
    return f"{verb} {arg}" if arg not in (None, "") else verb


def reply_text(reply: Mapping[str, Any] | None, limit: int = 64) -> str:
    if not reply:
        return "(no reply)"
    text = f"{reply.get('code')} {str(reply.get('text') or '').strip()}".strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


RST_SENDER: dict[bool | None, str] = {True: "the peer itself", False: "a box on the path"}


def outcome_text(ch: Mapping[str, Any]) -> str:
    """What became of a data connection, in a few words a person reads at a glance."""
    outcome = str(ch.get("outcome") or "unknown")
    conn = ch.get("connection") or {}
    if outcome == "established":
        n = int(ch.get("bytes") or 0)
        text = f"established, {n:,} bytes" if n else "established"
        return text + (" (inferred from the replies)" if ch.get("inferred") else "")
    if outcome == "refused":
        rst = conn.get("rst") or {}
        who = RST_SENDER.get(rst.get("from_peer"), "")
        who = f" ({who})" if who else ""
        return f"refused: RST from {rst.get('sender', '?')}{who}" if rst else "refused"
    if outcome == "unanswered":
        n = int(conn.get("syn_count") or 0)
        return f"unanswered: SYN sent {n}×, no reply" if n else "unanswered"
    if outcome == "unreachable":
        icmp = conn.get("icmp") or {}
        return f"unreachable: ICMP {icmp.get('kind', '?')} from {icmp.get('sender', '?')}"
    return {"not_attempted": "not attempted",
            "failed": "failed (server said so; no packets here)"}.get(outcome, outcome)


def channel_frames(ch: Mapping[str, Any], *, announce: bool = True) -> set[int]:
    """The frames a data channel's story rests on (to attach findings to it): the
    announcement (unless `announce` is false), SYN, SYN-ACK, RST, ICMP, the transfer's reply."""
    conn = ch.get("connection") or {}
    frames = {conn.get("syn_frame"), conn.get("synack_frame"),
              (ch.get("command_reply") or {}).get("frame")}
    frames |= {(conn.get("rst") or {}).get("frame"), (conn.get("icmp") or {}).get("frame")}
    if announce:
        frames.add(ch.get("announced_frame"))
    return {f for f in frames if isinstance(f, int) and f > 0}


PRIVATE_NETS = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.168.0.0/16", "::/128", "::1/128", "fc00::/7", "fe80::/10"))
"""RFC 1918, RFC 6598 (CGNAT), loopback, link-local, unspecified and IPv6 ULA (RFC 4193):
addresses a host on the internet cannot reach. Documentation ranges (RFC 5737, RFC 3849) count
as public: the labs use them as the internet."""


def is_private(ip: object) -> bool | None:
    """True/False for an address, None for anything that is not one."""
    try:
        addr = ipaddress.ip_address(str(ip))
    except ValueError:
        return None
    return any(addr in n for n in PRIVATE_NETS)


class FindingIndex:
    """Findings looked up by (capture, frame); each is shown once, beside its first arrow."""

    def __init__(self, findings: Iterable[Mapping[str, Any]]) -> None:
        self.findings = sorted(
            findings, key=lambda f: _SEVERITY_RANK.get(str(f.get("severity")), 3)
        )
        self.used: set[int] = set()

    def take(self, capture: str | None, frames: Iterable[int]) -> list[Mapping[str, Any]]:
        want = set(frames)
        out = []
        for i, f in enumerate(self.findings):
            if i in self.used:
                continue
            for ev in f.get("evidence") or ():
                cap = ev.get("capture")
                if ev.get("frame") in want and (capture is None or cap in (None, capture)):
                    self.used.add(i)
                    out.append(f)
                    break
        return out

    def leftovers(self) -> list[Mapping[str, Any]]:
        out = [f for i, f in enumerate(self.findings) if i not in self.used]
        self.used.update(range(len(self.findings)))
        return out


def has_errors(doc: Doc) -> bool:
    """At least one error finding: the exit status 1 of replay and diagram."""
    return any(f.get("severity") == "error" for f in doc.get("findings") or ())


def worst_status(findings: Sequence[Mapping[str, Any]], default: Status) -> Status:
    sev = {str(f.get("severity")) for f in findings}
    if "error" in sev:
        return Status.FAILED
    if "warning" in sev and default is Status.OK:
        return Status.WARNING
    return default


def finding_role(findings: Sequence[Mapping[str, Any]]) -> Role | None:
    """The hop named by the most severe finding that places the failure at all."""
    for f in findings:
        role = WHERE_ROLE.get(str(f.get("where")))
        if role is not None:
            return role
    return None


def note_texts(findings: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    return tuple(f"{f.get('code')}: {f.get('summary')}" for f in findings)


# --- lanes the evidence supports -------------------------------------------------------------


def lanes_for(doc: Doc) -> set[Role]:
    """Client and server always; a router or the internet only when evidence places one.

    Evidence: a finding's `where`; a private announced address where the control connection
    shows a public one (a 227 naming a private host while the client reached a public address
    means translation on the server's side; such a PORT, on the client's side);
    capture points between boxes in multi-vantage `path` data.
    """
    roles = {Role.CLIENT, Role.SERVER}
    for f in doc.get("findings") or ():
        role = WHERE_ROLE.get(str(f.get("where")))
        if role is not None:
            roles.add(role)
    for s in doc.get("sessions") or ():
        for ch in s.get("data_channels") or ():
            ann = (ch.get("announced") or {}).get("ip")
            peer = (s.get("server" if ch.get("passive") else "client") or {}).get("ip")
            if ann and ann != peer and is_private(ann) and is_private(peer) is False:
                roles.add(Role.SERVER_ROUTER if ch.get("passive") else Role.CLIENT_ROUTER)
            for pos in hop_positions(ch.get("path") or ()):
                if 0 < pos < 2:
                    roles.add(Role.CLIENT_ROUTER)
                if 2 < pos < 4:
                    roles.add(Role.SERVER_ROUTER)
                if 1 < pos < 3:
                    roles.add(Role.INTERNET)
    return roles


def build_diagram(doc: Doc) -> Diagram:
    """The sequence model of a whole document: one section per FTP session.

    The story is told by `diagram_story`, which is built from this module's parts; it is
    imported when called, so that either module may be imported first.
    """
    from ftptrace.render.diagram_story import build_diagram as tell_story

    return tell_story(doc)
