"""The story of a document, told as steps: one section per FTP session, in dialogue order.

Why apart from the model: `diagram_model` says what a diagram is made of (lanes, arrows,
notes) and how to read the `ftptrace/1` document; this module decides the story — which
commands are shown, where each data connection goes between the command that caused it and
the final reply, which finding sits beside which arrow, and at which box an arrow dies.
`diagram_model.build_diagram` is the entry point every renderer calls.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from ftptrace.render.diagram_model import (
    ANNOUNCE_VERBS,
    SHOWN_VERBS,
    TRANSFER_VERBS,
    VANTAGE_POSITIONS,
    Arrow,
    Diagram,
    Doc,
    FindingIndex,
    Lane,
    Note,
    Role,
    Section,
    Status,
    Step,
    _box_between,
    channel_frames,
    command_text,
    endpoint,
    finding_role,
    hop_positions,
    lanes_for,
    note_texts,
    outcome_text,
    reply_text,
    worst_status,
)


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


def _lane_details(role: Role, sessions: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    key = {Role.CLIENT: "client", Role.SERVER: "server"}.get(role)
    if key is None:
        return ()
    seen = sorted({str((s.get(key) or {}).get("ip")) for s in sessions if s.get(key)})
    return tuple(seen[:2]) + ((f"+{len(seen) - 2} more",) if len(seen) > 2 else ())


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
