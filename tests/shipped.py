"""The captures shipped in `captures/` (every format: pcap, pcapng, gzip), as paths relative
to the repository root, for the tests that replay all of them."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = sorted(
    p.relative_to(ROOT)
    for p in (ROOT / "captures").rglob("*")
    if p.suffix in {".pcap", ".pcapng", ".gz"}
)
