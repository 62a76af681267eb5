#!/usr/bin/env python3
"""Render the PORT and PASV sequence diagrams shown in docs/ and the README.

    python scripts/render_docs_svgs.py
        from the hand-written documents in tests/render/fixtures/ (the default)
    python scripts/render_docs_svgs.py \\
        --pasv client=captures/pasv-private-address/client.pcap \\
        --port server=captures/port-client-behind-nat/server.pcap
        from lab captures (any input `ftptrace replay` accepts, LABEL=FILE for vantages),
        or from an ftptrace/1 JSON document (`ftptrace replay --json` output)

Output is deterministic, so re-running without a change in the inputs changes no byte.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "render" / "fixtures"
DEFAULTS = {
    "pasv": [str(FIXTURES / "pasv_private_address.json")],
    "port": [str(FIXTURES / "port_client_behind_nat.json")],
}


def document(sources: list[str]) -> dict[str, Any]:
    if len(sources) == 1 and sources[0].endswith(".json"):
        doc: dict[str, Any] = json.loads(Path(sources[0]).read_text(encoding="utf-8"))
        return doc
    from ftptrace.replay import analyze, document as correlated, parse_input

    analysis = analyze([parse_input(s) for s in sources])
    if analysis.unreadable:
        raise SystemExit("\n".join(analysis.unreadable))
    return correlated(analysis)  # with hop-by-hop paths when several vantages are given


def main() -> None:
    from ftptrace.render.diagram_model import build_diagram
    from ftptrace.render.svg import render_svg

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pasv", nargs="+", default=DEFAULTS["pasv"], metavar="SRC")
    ap.add_argument("--port", nargs="+", default=DEFAULTS["port"], metavar="SRC")
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    args = ap.parse_args()
    for mode in ("pasv", "port"):
        out = args.out / f"diagram-{mode}.svg"
        out.write_text(render_svg(build_diagram(document(getattr(args, mode)))), encoding="utf-8")
        print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
