"""The one-page HTML report and the teaching page: content, no fetches, and Chromium."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from tests.render.conftest import Chromium, load_fixture, png_distinct_bytes

from ftptrace.render.explain import explain
from ftptrace.render.html import render_explain_html, render_html_report


def test_report_holds_findings_hints_channels_and_transcript(
    fixture_doc: tuple[str, dict[str, Any]],
) -> None:
    _, doc = fixture_doc
    page = render_html_report(doc)
    assert page == render_html_report(doc), "not deterministic"
    for f in doc["findings"]:
        assert f["code"] in page
    for s in doc["sessions"]:
        for c in s["commands"]:
            assert c["command"] in page
    assert "<svg" in page and "</svg>" in page


def test_report_masks_passwords_and_escapes_text() -> None:
    doc = load_fixture("pasv_private_address")
    doc["sessions"][0]["commands"][1]["arg"] = "hunter2"
    doc["sessions"][0]["user"] = "<script>alert(1)</script>"
    page = render_html_report(doc)
    assert "hunter2" not in page and "PASS ****" in page
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_report_fetches_nothing() -> None:
    page = render_html_report(load_fixture("multi_vantage_pasv"))
    assert "default-src 'none'" in page
    assert not re.search(r"(src|href)=", page)
    assert re.findall(r"https?://[^\"]+", page) == ["http://www.w3.org/2000/svg"]


def test_verdict() -> None:
    page = render_html_report(load_fixture("port_ok"))
    assert "No error: FTP worked" in page and "No findings" in page
    page = render_html_report(load_fixture("pasv_range_not_forwarded"))
    assert "1 error(s), 1 warning(s). First: data SYN to 198.51.100.2:50003" in page


def test_explain_page() -> None:
    page = render_explain_html(explain("both", (50000, 50010)))
    assert "What each box must allow" in page and "50000-50010" in page
    assert page.count('class="finding warning"') == 7


REPORT_LABELS = {
    "pasv_private_address": ["PASV_PRIVATE_ADDRESS", "What to change:", "PASS ****",
                             "unreachable: ICMP net-unreachable from 203.0.113.1"],
    "multi_vantage_pasv": ["DATA_SYN_UNANSWERED", "server-router-wan.pcap #21",
                           "203.0.113.20:61001 → 192.168.1.2:50000"],
    "control_refused_and_tls": ["CONTROL_REFUSED", "TLS on the control channel"],
}


@pytest.mark.parametrize("name", sorted(REPORT_LABELS))
def test_chromium_loads_the_report(name: str, chromium: Chromium, tmp_path: Path) -> None:
    page = tmp_path / f"report_{name}.html"
    page.write_text(render_html_report(load_fixture(name)), encoding="utf-8")
    result = chromium.check(page)
    assert result.console == [], "console messages (a blocked fetch, an error)"
    for label in REPORT_LABELS[name]:
        assert label in result.dom, f"{label!r} not in the rendered DOM"
    assert png_distinct_bytes(result.screenshot) > 16


def test_chromium_loads_the_explain_page(chromium: Chromium, tmp_path: Path) -> None:
    page = tmp_path / "explain_page.html"
    page.write_text(render_explain_html(explain("both")), encoding="utf-8")
    result = chromium.check(page, size=(1200, 2400))
    assert result.console == []
    for label in ("Table E4, corrected", "the SERVER connects out", "The guide's myths"):
        assert label in result.dom
