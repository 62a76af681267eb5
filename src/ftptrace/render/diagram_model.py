"""A layout-free sequence model of an ``ftptrace/1`` document: lanes, arrows, notes.

Why a model between the document and the pictures: the terminal, Mermaid, SVG and HTML
renderers must tell the same story (which arrow died at which hop, and why), so the story is
decided once, here, and each renderer only lays it out. The input is the JSON document and
nothing else, so a capture, `--from-json` of a replay and a probe's output render the same.

Lanes are the boxes along the path (client | client router | internet | server router |
server); only those the evidence supports appear. Capture points sit *between* boxes
(issue 6's vantage labels), so a connection seen at `server-router-wan` but not at
`server-router-lan` died in the server router box.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

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

VANTAGE_POSITIONS: dict[str, float] = {
    "client": 0.0,
    "client-router-lan": 0.5,
    "client-router-wan": 1.5,
    "internet": 2.0,
    "server-router-wan": 2.5,
    "server-router-lan": 3.5,
    "server": 4.0,
}
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


def _lane_details(role: Role, sessions: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    key = {Role.CLIENT: "client", Role.SERVER: "server"}.get(role)
    if key is None:
        return ()
    seen = sorted({str((s.get(key) or {}).get("ip")) for s in sessions if s.get(key)})
    return tuple(seen[:2]) + ((f"+{len(seen) - 2} more",) if len(seen) > 2 else ())


# --- the story of one session ----------------------------------------------------------------


def build_diagram(doc: Doc) -> Diagram:
    """The sequence model of a whole document: one section per FTP session."""
    sessions = list(doc.get("sessions") or ())
    fx = FindingIndex(doc.get("findings") or ())
    roles = lanes_for(doc)
    steps: list[Step] = []
    for attempt in doc.get("control_attempts") or ():
        steps.append(_control_attempt(attempt, roles, fx))
    vantage = {c.get("path"): c.get("vantage") for c in doc.get("captures") or ()}
    for i, s in enumerate(sessions, 1):
        if len(sessions) > 1:
            at = f" at {vantage[s.get('capture')]}" if vantage.get(s.get("capture")) else ""
            user = f", user {s.get('user')}" if s.get("user") else ""
            steps.append(Section(title=f"session {i}{at}: {endpoint(s.get('client'))} → "
                                 f"{endpoint(s.get('server'))}{user}"))
        steps.extend(_SessionStory(s, roles, fx).steps())
    if not sessions and not steps:
        steps.append(Note(over=(Role.CLIENT, Role.SERVER), text="no FTP session in this input"))
    for f in fx.leftovers():
        status = worst_status([f], Status.MUTED)
        steps.append(Note(over=(Role.CLIENT, Role.SERVER), text=note_texts([f])[0], status=status))
    caps = list(doc.get("captures") or ())
    names = [str(c.get("path") or "").rsplit("/", 1)[-1] for c in caps]
    if len(caps) > 1:
        names = [str(c.get("vantage") or n) for c, n in zip(caps, names, strict=True)]
        names.sort(key=lambda n: VANTAGE_POSITIONS.get(n, 5.0))  # path order, others last
        title = f"{len(caps)} captures ({', '.join(names)})"
    else:
        title = names[0] if names and names[0] else "ftptrace"
    title += f" — {len(sessions)} FTP session" + ("s" if len(sessions) != 1 else "")
    lanes = tuple(Lane(role=r, details=_lane_details(r, sessions)) for r in sorted(roles,
                  key=lambda r: r.position))
    return Diagram(title=title, lanes=lanes, steps=tuple(steps))


def _control_attempt(c: Mapping[str, Any], roles: set[Role], fx: FindingIndex) -> Arrow:
    """A connection to an FTP port that never became a session (refused, unanswered …)."""
    frames = [c.get("syn_frame"), (c.get("rst") or {}).get("frame"),
              (c.get("icmp") or {}).get("frame")]
    fs = fx.take(None, [f for f in frames if isinstance(f, int)])
    outcome = str(c.get("outcome") or "unknown")
    status = worst_status(fs, Status.OK if outcome == "established" else Status.FAILED)
    died = None
    if status is Status.FAILED:
        died = finding_role(fs) or Role.SERVER
        died = died if died in roles else Role.SERVER
    text = outcome_text({"outcome": outcome, "connection": c})
    return Arrow(src=Role.CLIENT, dst=Role.SERVER, status=status, died_at=died,
                 notes=note_texts(fs), label=f"control {endpoint(c.get('orig'))} → "
                 f"{endpoint(c.get('resp'))}: {text}")


class _SessionStory:
    """Walks one session's commands in order and interleaves its data connections."""

    def __init__(self, s: Mapping[str, Any], roles: set[Role], fx: FindingIndex) -> None:
        self.s, self.roles, self.fx = s, roles, fx
        self.capture: str | None = s.get("capture")
        self.channels = list(enumerate(s.get("data_channels") or (), 1))
        self.done: set[int] = set()
        # A connection's findings go beside the connection, not beside the command that
        # announced it: taken before the walk, by every frame but the announcement.
        self.found = {k: fx.take(self.capture, channel_frames(ch, announce=False))
                      for k, ch in self.channels}
        self.out: list[Step] = []

    def steps(self) -> list[Step]:
        s, c, srv = self.s, Role.CLIENT, Role.SERVER
        ctrl = s.get("control") or {}
        outcome = str(ctrl.get("outcome") or "established")
        fs = self.fx.take(self.capture, [ctrl.get("syn_frame") or 0])
        status = worst_status(fs, Status.OK if outcome == "established" else Status.FAILED)
        label = f"control {endpoint(s.get('client'))} → {endpoint(s.get('server'))}"
        label += "" if outcome == "established" else f": {outcome}"
        died = (finding_role(fs) or srv) if status is Status.FAILED else None
        self._arrow(c, srv, label, status, fs, died=died)
        if s.get("tls"):
            self.out.append(Note(over=(c, srv), status=Status.WARNING, text="TLS on the control "
                                 "channel: NAT helpers cannot read or rewrite PORT/PASV"))
        cmds = list(s.get("commands") or ())
        i = 0
        while i < len(cmds):
            cmd, verb = cmds[i], str(cmds[i].get("command") or "").upper()
            nxt = cmds[i + 1] if i + 1 < len(cmds) else {}
            if verb == "USER" and str(nxt.get("command") or "").upper() == "PASS":
                self._exchange([cmd, nxt])
                i += 2
                continue
            i += 1
            if verb not in SHOWN_VERBS:
                continue
            self._exchange([cmd], after_command=self._transfer_channel(cmd, verb))
            if verb in ANNOUNCE_VERBS:
                self._channels_announced_by(cmd)
        for k, ch in self.channels:
            if k not in self.done:
                self._channel(k, ch)
        return self.out

    def _exchange(self, cmds: list[Mapping[str, Any]], after_command: int | None = None) -> None:
        """Command arrow(s) to the server, the data connection they caused, the final reply."""
        frames = [int(c.get("frame") or 0) for c in cmds]
        fs = self.fx.take(self.capture, frames)
        label = " · ".join(command_text(c) for c in cmds)
        self._arrow(Role.CLIENT, Role.SERVER, label, worst_status(fs, Status.OK), fs)
        if after_command is not None:
            self._channel(after_command, self.channels[after_command - 1][1])
        reply = cmds[-1].get("reply")
        if reply is None and str(cmds[-1].get("command")).upper() == "QUIT":
            return
        fs = self.fx.take(self.capture, [int((reply or {}).get("frame") or 0)])
        code = int((reply or {}).get("code") or 0)
        status = worst_status(fs, Status.FAILED if code >= 400 else Status.OK)
        self._arrow(Role.SERVER, Role.CLIENT, reply_text(reply), status, fs, reply=True)

    def _transfer_channel(self, cmd: Mapping[str, Any], verb: str) -> int | None:
        """The first unused data channel announced before this transfer command and serving it."""
        if verb not in TRANSFER_VERBS:
            return None
        frame = int(cmd.get("frame") or 0)
        for k, ch in self.channels:
            served = str(ch.get("command") or "").split(" ", 1)[0].upper()
            ann = int(ch.get("announced_frame") or 0)
            if k not in self.done and served == verb and (not frame or ann <= frame):
                return k
        return None

    def _channels_announced_by(self, cmd: Mapping[str, Any]) -> None:
        """Channels that never served a command (a refused PORT): drawn right after it."""
        frames = {cmd.get("frame"), (cmd.get("reply") or {}).get("frame")} - {None, 0}
        for k, ch in self.channels:
            if k not in self.done and not ch.get("command") and ch.get("announced_frame") in frames:
                self._channel(k, ch)

    def _arrow(self, src: Role, dst: Role, label: str, status: Status,
               fs: Sequence[Mapping[str, Any]], *, reply: bool = False,
               died: Role | None = None) -> None:
        if died is not None and (died not in self.roles or died == src):
            died = dst
        self.out.append(Arrow(src=src, dst=dst, label=label, status=status, reply=reply,
                              died_at=died, notes=note_texts(fs)))

    def _channel(self, k: int, ch: Mapping[str, Any]) -> None:
        self.done.add(k)
        passive = bool(ch.get("passive"))
        src, dst = (Role.CLIENT, Role.SERVER) if passive else (Role.SERVER, Role.CLIENT)
        outcome = str(ch.get("outcome") or "unknown")
        fs = self.found[k]
        base = {"established": Status.OK, "not_attempted": Status.MUTED}.get(outcome)
        status = worst_status(fs, base or (Status.MUTED if outcome == "unknown" else Status.FAILED))
        who = "client" if passive else "server"
        verb = "would connect" if outcome == "not_attempted" else "connects"
        head = f"data #{k} for {ch.get('command') or ch.get('via')}: {who} {verb}"
        if ch.get("path"):
            self._path(head, ch, src, dst, status, fs)
            return
        conn, exp = ch.get("connection"), ch.get("expected") or {}
        if conn:
            where = f"{endpoint(conn.get('orig'))} → {endpoint(conn.get('resp'))}"
        else:
            where = f"{exp.get('orig_ip', '?')} → " + endpoint(
                {"ip": exp.get("resp_ip", "?"), "port": exp.get("resp_port", "?")})
        died = None
        if status is Status.FAILED:
            died = finding_role(fs) or self._default_death(ch, dst)
        self._arrow(src, dst, f"{head} {where} — {outcome_text(ch)}", status, fs, died=died)

    def _default_death(self, ch: Mapping[str, Any], dst: Role) -> Role:
        """Without a finding: an RST from a box on the path, or an ICMP error, died short."""
        conn = ch.get("connection") or {}
        near = Role.SERVER_ROUTER if dst is Role.SERVER else Role.CLIENT_ROUTER
        if (conn.get("rst") or {}).get("from_peer") is False and near in self.roles:
            return near
        if conn.get("icmp") and Role.INTERNET in self.roles:
            return Role.INTERNET
        return dst

    def _path(self, head: str, ch: Mapping[str, Any], src: Role, dst: Role, status: Status,
              fs: Sequence[Mapping[str, Any]]) -> None:
        """Hop-by-hop arrows; each label is the addresses seen at the capture points passed."""
        step = 1 if dst.position > src.position else -1
        hops = sorted(zip(hop_positions(ch["path"]), ch["path"], strict=True),
                      key=lambda h: h[0] * step)
        last_seen, died = float(src.position), None
        for pos, hop in hops:
            if hop.get("seen") is False:
                died = _box_between(last_seen, pos)
                break
            last_seen = pos
        if died is None and status is Status.FAILED:
            died = finding_role(fs) or dst
        end = dst if died is None else died
        if end not in self.roles:
            end = died = min(self.roles, key=lambda r: abs(r.position - end.position))
        lanes = sorted((r for r in self.roles if (r.position - src.position) * step >= 0
                        and (end.position - r.position) * step >= 0),
                       key=lambda r: r.position * step)
        for a, b in itertools.pairwise(lanes):
            lo, hi = sorted((a.position, b.position))
            seen = [h for p, h in hops if lo <= p <= hi and h.get("seen") is not False]
            where = (f"{endpoint(seen[0].get('orig'))} → {endpoint(seen[0].get('resp'))}"
                    if seen else "(not captured between these hops)")
            last = b is lanes[-1]
            label = (head + " " if a is src else "") + where
            if last:
                label += f" — {outcome_text(ch)}"
            self._arrow(a, b, label, status if last else Status.OK, fs if last else (),
                        died=died if last else None)
