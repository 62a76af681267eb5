"""The teaching version of the field guide's table E4: PORT vs PASV, through two NAT routers.

The guide draws the five steps with made-up ports (4001 → 21, 4002 ↔ 20, 4002 → 1024 …)
and draws conclusions from them that are partly wrong. This module keeps its ports, draws the
steps through a client router and a server router with every address translation, says what
each router must allow, and corrects the guide's myths. Content is data (rows, rules, myths)
so the terminal, HTML, Mermaid and SVG renderers share it; nothing here is invented per run.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from ftptrace.errors import UsageError
from ftptrace.render.diagram_model import Arrow, Diagram, Lane, Note, Role, Section, Status, Step

C, CR, NET, SR, S = list(Role)

CLIENT_LAN, CLIENT_WAN = "10.0.0.2", "203.0.113.20"
SERVER_WAN, SERVER_LAN = "198.51.100.2", "192.168.1.2"
"""Documentation addresses (RFC 5737) for the routers' public sides; the guide's LAN."""
CTRL, DATA1, DATA2 = 4001, 4002, 4003
"""The guide's client ports for control, the listing and the file transfer."""
MODES = ("port", "pasv", "both")


@dataclass(frozen=True, slots=True, kw_only=True)
class E4Row:
    step: str
    port: str
    pasv: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterRule:
    mode: str
    where: str
    must: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Myth:
    guide: str
    truth: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    modes: tuple[str, ...]
    """"PORT" and/or "PASV", in that order."""
    passive_ports: tuple[int, int]
    range_text: str
    rows: tuple[E4Row, ...]
    rules: tuple[RouterRule, ...]
    myths: tuple[Myth, ...]
    diagram: Diagram


def parse_port_range(text: str) -> tuple[int, int]:
    """'50000-50010' → (50000, 50010); passive ports are unprivileged (≥ 1024)."""
    lo_s, sep, hi_s = text.partition("-")
    try:
        lo, hi = int(lo_s), int(hi_s if sep else lo_s)
    except ValueError:
        raise UsageError(f"bad port range {text!r}: expected LOW-HIGH, e.g. 50000-50010") from None
    if not 1024 <= lo <= hi <= 65535:
        raise UsageError(f"bad port range {text!r}: need 1024 <= LOW <= HIGH <= 65535")
    return lo, hi


def _ftp_hostport(ip: str, port: int) -> str:
    """RFC 959 §4.1.2 host-port: h1,h2,h3,h4,p1,p2 with port = p1*256 + p2."""
    return ",".join([*ip.split("."), str(port // 256), str(port % 256)])


def _hops(src: Role, dst: Role, what: str, ports: tuple[int, int],
          inbound_dnat: bool) -> list[Step]:
    """One TCP connection drawn box to box, labelled with the addresses on each link."""
    cport, sport = ports
    c_lan, c_wan = f"{CLIENT_LAN}:{cport}", f"{CLIENT_WAN}:{cport}"
    s_wan, s_lan = f"{SERVER_WAN}:{sport}", f"{SERVER_LAN}:{sport}"
    if src is C:
        links = [(C, CR, f"{c_lan} → {s_wan}"), (CR, SR, f"{c_wan} → {s_wan}"),
                 (SR, S, f"{c_wan} → {s_lan}" if inbound_dnat else f"{c_wan} → {s_wan}")]
    else:
        links = [(S, SR, f"{s_lan} → {c_wan}"), (SR, CR, f"{s_wan} → {c_wan}"),
                 (CR, C, f"{s_wan} → {c_lan}")]
    out: list[Step] = []
    for i, (a, b, label) in enumerate(links):
        out.append(Arrow(src=a, dst=b, label=(f"{what}: " if i == 0 else "") + label))
    return out


def _cmd(text: str, reply: str) -> list[Step]:
    return [Arrow(src=C, dst=S, label=text), Arrow(src=S, dst=C, label=reply, reply=True)]


def _control_steps() -> list[Step]:
    return [
        *_hops(C, S, "1 control", (CTRL, 21), True),
        Note(over=(CR,), text=f"masquerade: {CLIENT_LAN} leaves as {CLIENT_WAN}"),
        Note(over=(SR,), text=f"forward TCP 21 → {SERVER_LAN}:21", status=Status.WARNING),
        *_cmd("USER anonymous · PASS ****", "230 Login successful."),
    ]


def _port_steps() -> list[Step]:
    out: list[Step] = [Section(title="PORT (active) mode: the server connects"), *_control_steps()]
    for step, cport, verb in (("2-3 listing", DATA1, "LIST"), ("4-5 file", DATA2, "RETR test.jpg")):
        out += [
            Arrow(src=C, dst=S, label=f"PORT {_ftp_hostport(CLIENT_LAN, cport)} "
                  f"({CLIENT_LAN}:{cport})"),
            Note(over=(CR,), status=Status.WARNING, text="FTP helper rewrites it to PORT "
                 f"{_ftp_hostport(CLIENT_WAN, cport)} and expects the server's connection "
                 "(no helper, or TLS: nothing can connect in)"),
            Arrow(src=S, dst=C, label="200 PORT command successful.", reply=True),
            Arrow(src=C, dst=S, label=f"{verb}  (control {CTRL} → 21)"),
            *_hops(S, C, f"{step} data, server connects out", (cport, 20), False),
            Arrow(src=S, dst=C, label="226 Transfer complete.", reply=True),
        ]
    out.append(Note(over=(SR,), text="outbound from the server: nothing to forward for data"))
    return out


def _pasv_steps(p1: int, p2: int, range_text: str) -> list[Step]:
    out: list[Step] = [Section(title="PASV (passive) mode: the client connects"),
                       *_control_steps()]
    for step, cport, sport, verb in (("2-3 listing", DATA1, p1, "LIST"),
                                     ("4-5 file", DATA2, p2, "RETR test.jpg")):
        out += [
            *_cmd("PASV", f"227 Entering Passive Mode ({_ftp_hostport(SERVER_WAN, sport)})"),
            Note(over=(S,), status=Status.WARNING, text=f"the 227 reply must name the public "
                 f"{SERVER_WAN}, never {SERVER_LAN}"),
            Arrow(src=C, dst=S, label=f"{verb}  (control {CTRL} → 21)"),
            *_hops(C, S, f"{step} data, client connects in", (cport, sport), True),
            Note(over=(SR,), status=Status.WARNING,
                 text=f"forward the whole passive range {range_text} → {SERVER_LAN}"),
            Arrow(src=S, dst=C, label="226 Transfer complete.", reply=True),
        ]
    return out


def _rows(p1: int, p2: int) -> tuple[E4Row, ...]:
    return (
        E4Row(step="1 control + login", port=f"client {CTRL} → server 21",
              pasv=f"client {CTRL} → server 21"),
        E4Row(step="2 data connection",
              port=f"PORT names client:{DATA1}; the SERVER connects out from 20 (or any port) "
                   f"→ client {DATA1}",
              pasv=f"PASV; 227 names the public address and {p1}; the CLIENT connects "
                   f"{DATA1} → server {p1}"),
        E4Row(step="3 file listing", port=f"on the step-2 connection (20 → {DATA1})",
              pasv=f"on the step-2 connection ({DATA1} → {p1})"),
        E4Row(step="4 file request", port=f"client {CTRL} → server 21: RETR or STOR",
              pasv=f"client {CTRL} → server 21: RETR or STOR"),
        E4Row(step="5 file transfer",
              port=f"new connection, server 20 → client {DATA2}; the same for uploads",
              pasv=f"new connection, client {DATA2} → server {p2} (new port each time)"),
    )


def _rules(range_text: str) -> tuple[RouterRule, ...]:
    return (
        RouterRule(mode="PORT", where="client router", must="let the server's connection IN "
                   "to the port the client announced: only an FTP helper (ALG) that rewrites "
                   "PORT and expects the connection does that; TLS blinds it"),
        RouterRule(mode="PORT", where="server router", must=f"forward TCP 21 to {SERVER_LAN}; "
                   "let the server's OUTBOUND data connections out (from 20, or from any port "
                   "on servers that do not bind 20); no inbound forward of port 20"),
        RouterRule(mode="PASV", where="client router", must="nothing special: the client "
                   "connects outbound, as for any web page"),
        RouterRule(mode="PASV", where="server router", must=f"forward TCP 21 AND the whole "
                   f"passive range {range_text} to {SERVER_LAN}"),
        RouterRule(mode="PASV", where="server", must=f"announce the public address in the 227 "
                   f"reply (vsftpd pasv_address={SERVER_WAN}, proftpd MasqueradeAddress, "
                   f"pure-ftpd -P) and use the same range (pasv_min_port/pasv_max_port)"),
    )


MYTHS = (
    Myth(guide="PORT mode uses server port 20, so open (forward) port 20 on the server side.",
         truth="In PORT mode the server connects OUTBOUND from port 20 to the client. The "
               "server's router needs no inbound forward of 20; the CLIENT's side must accept "
               "an inbound connection (client firewall, client NAT with an FTP helper)."),
    Myth(guide="Downloads and uploads flow differently (table E4's ↔ arrows).",
         truth="The mode alone decides who connects: PORT → the server, PASV → the client, "
               "for RETR and STOR alike."),
    Myth(guide="A packet filter must pass packets with source port 20 from the server.",
         truth="Only servers that bind 20 use it (vsftpd connect_from_port_20=YES); proftpd "
               "and others connect from an ephemeral port, which a 'source port 20' rule "
               "blocks."),
    Myth(guide="PASV data goes to server port 1024, then 1025.",
         truth="The server picks any port of its passive range, a new one per transfer: "
               "forward the whole range, or transfers fail at random."),
    Myth(guide="(silent) Which address the server writes into the 227 reply.",
         truth="It must be the PUBLIC address. A private 192.168.x address there is the most "
               "common failure on the internet; clients that ignore it (curl, ftplib) hide it."),
    Myth(guide="A port-check service reaching TCP 21 proves the server works.",
         truth="It proves the control port only; every listing and file needs a data "
               "connection that such a check never opens."),
    Myth(guide="Some routers do not support PASV.",
         truth="A router needs no 'PASV support': it needs the passive range forwarded, or an "
               "FTP helper that rewrites 227. With FTPS (AUTH TLS) no helper can read the "
               "reply, so only static forwarding plus pasv_address works; EPSV (RFC 2428) "
               "avoids the address altogether."),
)


def explain(mode: str, port_range: tuple[int, int] | None = None) -> Explanation:
    """The explanation for `port`, `pasv` or `both`; ports default to the guide's 1024/1025."""
    if mode not in MODES:
        raise UsageError(f"--explain takes one of {', '.join(MODES)}, not {mode!r}")
    if port_range is None:
        p1, p2, range_text = 1024, 1025, "(the ports ≥ 1024 the server picks)"
    else:
        lo, hi = port_range
        p1, p2 = lo, min(lo + 1, hi)
        range_text = f"{lo}-{hi}" if hi > lo else str(lo)
    modes = {"port": ("PORT",), "pasv": ("PASV",), "both": ("PORT", "PASV")}[mode]
    steps: list[Step] = []
    if "PORT" in modes:
        steps += _port_steps()
    if "PASV" in modes:
        steps += _pasv_steps(p1, p2, range_text)
    lanes = (Lane(role=C, details=(CLIENT_LAN,)), Lane(role=CR, details=(CLIENT_WAN,)),
             Lane(role=NET), Lane(role=SR, details=(SERVER_WAN, "example.hn.org")),
             Lane(role=S, details=(SERVER_LAN,)))
    title = "Table E4, drawn through NAT: " + " and ".join(modes)
    return Explanation(
        modes=modes, passive_ports=(p1, p2), range_text=range_text, rows=_rows(p1, p2),
        rules=tuple(r for r in _rules(range_text) if r.mode in modes), myths=MYTHS,
        diagram=Diagram(title=title, lanes=lanes, steps=tuple(steps)))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]) -> str:
    """A plain-text table with wrapped cells, `|` between columns (fits 80 columns)."""
    def line(cells: Sequence[str]) -> list[str]:
        wrapped = [textwrap.wrap(c, w, break_on_hyphens=False) or [""]
                   for c, w in zip(cells, widths, strict=True)]
        depth = max(len(w) for w in wrapped)
        return [" | ".join((w[i] if i < len(w) else "").ljust(width)
                           for w, width in zip(wrapped, widths, strict=True)).rstrip()
                for i in range(depth)]
    rule = "-+-".join("-" * w for w in widths)
    out = [*line(headers), rule]
    for r in rows:
        out += [*line(r), rule]
    return "\n".join(out) + "\n"


def render_explanation_text(e: Explanation) -> str:
    """Everything but the sequence diagram, as plain text within 80 columns."""
    both = len(e.modes) == 2
    widths = [16, 28, 28] if both else [18, 59]
    headers = ["step", *(f"{m} mode" for m in e.modes)]
    rows = [[r.step, *([r.port] if "PORT" in e.modes else []), *([r.pasv] if "PASV" in e.modes
             else [])] for r in e.rows]
    out = [f"TABLE E4, corrected (client ports as in the guide; passive {e.range_text})\n\n",
           _table(headers, rows, widths), "\nWhat each box must allow\n\n",
           _table(["mode", "where", "must"], [[r.mode, r.where, r.must] for r in e.rules],
                  [4, 13, 56]),
           "\nThe guide's myths, corrected\n\n"]
    for i, m in enumerate(e.myths, 1):
        out.append(textwrap.fill(f"{i}. Guide: {m.guide}", 79, subsequent_indent="   ") + "\n")
        out.append(textwrap.fill(f"Truth: {m.truth}", 79, initial_indent="   ",
                                 subsequent_indent="   ") + "\n")
    return "".join(out) + "\n"
