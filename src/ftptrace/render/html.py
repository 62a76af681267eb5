"""One self-contained HTML page per document: verdict, findings with hints, the sequence
diagram (inline SVG), every data channel and the transcript (password masked).

Jinja2 with autoescaping does the markup; this module only turns the JSON document into
plain rows for the templates. The page carries a Content-Security-Policy that forbids every
fetch (`default-src 'none'`), so a page that tried to load anything would say so in the
browser console — the Chromium tests rely on that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from ftptrace import __version__
from ftptrace.render.diagram_model import (
    Doc,
    build_diagram,
    command_text,
    endpoint,
    outcome_text,
    reply_text,
)
from ftptrace.render.explain import Explanation
from ftptrace.render.svg import render_svg_inline

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _basename(path: object) -> str:
    return str(path or "").rsplit("/", 1)[-1]


def _evidence(ev: Sequence[Mapping[str, Any]]) -> str:
    """'client.pcap #16, #17; server-router-wan.pcap #21' — grouped by capture, in order."""
    groups: dict[str, list[str]] = {}
    for e in ev:
        groups.setdefault(_basename(e.get("capture")), []).append(f"#{e.get('frame')}")
    return "; ".join(f"{cap} {', '.join(frames)}".strip() for cap, frames in groups.items())


def _verdict(findings: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    errors = [f for f in findings if f.get("severity") == "error"]
    warnings = [f for f in findings if f.get("severity") == "warning"]
    if errors:
        first = errors[0]
        return (f"{len(errors)} error(s), {len(warnings)} warning(s). First: "
                f"{first.get('summary')} (at {first.get('where')})"), "error"
    if warnings:
        return f"No error; {len(warnings)} warning(s).", "warning"
    return "No error: FTP worked as far as this evidence goes.", "established"


def _channel_row(n: int, ch: Mapping[str, Any]) -> dict[str, object]:
    conn = ch.get("connection") or {}
    ann = ch.get("announced") or {}
    frames = [f"announce #{ch.get('announced_frame')}"] if ch.get("announced_frame") else []
    for key, name in (("syn_frame", "SYN"), ("synack_frame", "SYN-ACK")):
        if conn.get(key):
            frames.append(f"{name} #{conn[key]}")
    for key in ("rst", "icmp"):
        if (conn.get(key) or {}).get("frame"):
            frames.append(f"{key.upper()} #{conn[key]['frame']}")
    passive = bool(ch.get("passive"))
    return {
        "n": n,
        "via": ch.get("via"),
        "who": "client (passive)" if passive else "server (active)",
        "announced": endpoint({"ip": ann.get("ip") or "(control address)",
                               "port": ann.get("port")}),
        "connection": (f"{endpoint(conn.get('orig'))} → {endpoint(conn.get('resp'))}"
                       if conn else "(none seen)"),
        "command": ch.get("command") or "-",
        "outcome": ch.get("outcome") or "unknown",
        "outcome_text": outcome_text(ch),
        "bytes": f"{int(ch.get('bytes') or 0):,}",
        "frames": ", ".join(frames),
    }


def _transcript(cmds: Sequence[Mapping[str, Any]]) -> list[dict[str, object]]:
    t0 = next((float(c["ts"]) for c in cmds if c.get("ts") is not None), 0.0)
    rows: list[dict[str, object]] = []
    for c in cmds:
        reply = c.get("reply")
        code = int((reply or {}).get("code") or 0)
        ts = c.get("ts")
        rows.append({
            "time": f"+{float(ts) - t0:.3f}s" if ts is not None else "",
            "frame": c.get("frame") or "",
            "command": command_text(c),
            "reply": reply_text(reply, limit=200),
            "reply_class": "error" if code >= 400 else "",
        })
    return rows


def _session(s: Mapping[str, Any]) -> dict[str, object]:
    return {
        "client": endpoint(s.get("client")),
        "server": endpoint(s.get("server")),
        "user": s.get("user"),
        "tls": bool(s.get("tls")),
        "control": (s.get("control") or {}).get("outcome", "established"),
        "capture": _basename(s.get("capture")),
        "channels": [_channel_row(i, ch) for i, ch in enumerate(s.get("data_channels") or (), 1)],
        "transcript": _transcript(s.get("commands") or ()),
    }


def render_html_report(doc: Doc) -> str:
    """The one-page report (`replay --report`, `diagram --format html`)."""
    diagram = build_diagram(doc)
    findings = list(doc.get("findings") or ())
    verdict, verdict_class = _verdict(findings)
    return _env().get_template("report.html.j2").render(
        title=f"ftptrace report: {diagram.title}",
        version=__version__,
        schema=doc.get("schema", "ftptrace/1"),
        captures=[{"path": c.get("path"), "vantage": c.get("vantage"),
                   "packets": c.get("packets", 0)} for c in doc.get("captures") or ()],
        verdict=verdict,
        verdict_class=verdict_class,
        findings=[{"severity": f.get("severity", "info"), "code": f.get("code"),
                   "where": f.get("where", "unknown"), "summary": f.get("summary"),
                   "hint": f.get("hint"), "evidence": _evidence(f.get("evidence") or ())}
                  for f in findings],
        svg=Markup(render_svg_inline(diagram)),
        sessions=[_session(s) for s in doc.get("sessions") or ()],
    )


def render_explain_html(e: Explanation) -> str:
    """The teaching page for `diagram --explain … --format html`."""
    return _env().get_template("explain.html.j2").render(
        title=e.diagram.title, version=__version__, schema="ftptrace/1", e=e,
        svg=Markup(render_svg_inline(e.diagram)),
    )
