"""Fixtures for the renderers: hand-written ftptrace/1 documents and a headless Chromium.

The documents in fixtures/ follow the schema the engine writes (render/json.py); they keep
the renderers testable on every failure shape without a lab. Chromium checks load the SVG and
HTML in Debian's real browser: the DOM must hold the key labels, the console must stay silent
(the pages forbid every fetch with a CSP, so a fetch would log a violation), and a screenshot
per page goes to a temporary folder for a person to look at (never committed).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = Path(__file__).parent / "golden"
FIXTURE_NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))
CHROMIUM = Path("/usr/bin/chromium")
UPDATE_GOLDEN = os.environ.get("FTPTRACE_UPDATE_GOLDEN") == "1"


def load_fixture(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return doc


@pytest.fixture(params=FIXTURE_NAMES)
def fixture_doc(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    name: str = request.param
    return name, load_fixture(name)


def check_golden(name: str, text: str) -> None:
    """Compare with tests/render/golden/NAME; FTPTRACE_UPDATE_GOLDEN=1 rewrites it."""
    path = GOLDEN / name
    if UPDATE_GOLDEN:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with FTPTRACE_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} differs from its golden file"


@dataclass(frozen=True)
class PageCheck:
    dom: str
    console: list[str]
    screenshot: Path


class Chromium:
    """Debian's chromium, headless, isolated: no network, fresh profile per run, bounded time."""

    FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0")
    TIMEOUT = 90

    def __init__(self, shots: Path) -> None:
        self.shots = shots

    def _run(self, extra: list[str], url: str) -> subprocess.CompletedProcess[str]:
        with tempfile.TemporaryDirectory(prefix="ftptrace-chromium-") as profile:
            return subprocess.run(
                [str(CHROMIUM), *self.FLAGS, f"--user-data-dir={profile}", *extra, url],
                capture_output=True, text=True, timeout=self.TIMEOUT, check=False,
            )

    def check(self, page: Path, *, size: tuple[int, int] = (1200, 1600)) -> PageCheck:
        url = page.resolve().as_uri()
        shot = self.shots / (page.stem + ".png")
        # The two launches are independent and mostly wait: run them side by side.
        with ThreadPoolExecutor(max_workers=2) as pool:
            dump_job = pool.submit(self._run, ["--dump-dom"], url)
            snap_job = pool.submit(
                self._run, [f"--screenshot={shot}", f"--window-size={size[0]},{size[1]}"], url
            )
            dump, snap = dump_job.result(), snap_job.result()
        console = [ln for ln in (dump.stderr + snap.stderr).splitlines() if ":CONSOLE" in ln]
        assert shot.exists(), f"no screenshot: {snap.stderr[-2000:]}"
        return PageCheck(dom=dump.stdout, console=console, screenshot=shot)

    def check_many(self, pages: list[Path], workers: int = 3) -> dict[Path, PageCheck]:
        """Check several pages, a few at a time (each check already runs two browsers)."""
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return dict(zip(pages, pool.map(self.check, pages), strict=True))


@pytest.fixture(scope="session")
def require_chromium() -> None:
    """Skip where Debian's chromium is missing — but fail instead under CI=true."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{CHROMIUM} is missing (CI=true: browser checks may not skip)")
    pytest.skip(f"{CHROMIUM} is missing")


@pytest.fixture(scope="session")
def chromium(require_chromium: None, tmp_path_factory: pytest.TempPathFactory) -> Chromium:
    shots = tmp_path_factory.mktemp("screenshots")
    print(f"screenshots: {shots}")
    return Chromium(shots)


def png_distinct_bytes(path: Path) -> int:
    """How varied a PNG's (filtered) pixel data is: a blank page gives a handful of values."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return len(set(zlib.decompress(idat)))
