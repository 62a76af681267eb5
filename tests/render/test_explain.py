"""The teaching table E4: the guide's ports, the real directions, the myths corrected."""

from __future__ import annotations

import pytest
from tests.render.conftest import check_golden

from ftptrace.errors import UsageError
from ftptrace.render.diagram_model import Arrow, Note, Role, Section
from ftptrace.render.explain import (
    _ftp_hostport,
    explain,
    parse_port_range,
    render_explanation_text,
)


def test_port_mode_the_server_connects_outbound() -> None:
    e = explain("port")
    assert e.modes == ("PORT",)
    data = [s for s in e.diagram.steps if isinstance(s, Arrow) and "data" in s.label]
    assert data and all(a.src is Role.SERVER and "server connects out" in a.label for a in data)
    assert "192.168.1.2:20 → 203.0.113.20:4002" in data[0].label
    rules = {r.where: r.must for r in e.rules}
    assert "no inbound forward of port 20" in rules["server router"]
    assert "FTP helper" in rules["client router"]


def test_pasv_mode_the_client_connects_and_the_range_is_forwarded() -> None:
    e = explain("pasv", (50000, 50010))
    assert e.passive_ports == (50000, 50001)
    hops = [s for s in e.diagram.steps if isinstance(s, Arrow) and "→ 192.168.1.2:5000" in s.label]
    assert [(a.src, a.dst) for a in hops] == [(Role.SERVER_ROUTER, Role.SERVER)] * 2, "DNAT"
    assert any(isinstance(s, Note) and "50000-50010" in s.text for s in e.diagram.steps)
    assert any(isinstance(s, Arrow) and "(198,51,100,2,195,80)" in s.label
               for s in e.diagram.steps)
    assert {r.where for r in e.rules} == {"client router", "server router", "server"}


def test_both_side_by_side_with_the_five_steps() -> None:
    e = explain("both")
    assert [s.title.split()[0] for s in e.diagram.steps if isinstance(s, Section)] == [
        "PORT", "PASV"]
    assert [r.step.split()[0] for r in e.rows] == ["1", "2", "3", "4", "5"]
    assert e.rows[4].pasv.endswith("server 1025 (new port each time)"), "guide's default ports"
    assert e.diagram.roles == tuple(Role)


def test_myths_corrected() -> None:
    truths = " ".join(m.truth for m in explain("both").myths)
    for fact in ("connects OUTBOUND", "RETR and STOR alike", "ephemeral port",
                 "forward the whole range", "PUBLIC address", "control port only", "EPSV"):
        assert fact in truths


def test_text_fits_80_columns_and_golden() -> None:
    for mode in ("port", "pasv", "both"):
        text = render_explanation_text(explain(mode, (50000, 50010)))
        assert all(len(ln) <= 80 for ln in text.splitlines())
    check_golden("explain_both_table.txt", render_explanation_text(explain("both")))


@pytest.mark.parametrize("bad", ["x", "50010-50000", "80-90", "50000-70000", "1-", ""])
def test_bad_port_ranges(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_port_range(bad)


def test_port_range_forms() -> None:
    assert parse_port_range("50000-50010") == (50000, 50010)
    assert parse_port_range("50000") == (50000, 50000)
    assert explain("pasv", (50000, 50000)).range_text == "50000"


def test_bad_mode() -> None:
    with pytest.raises(UsageError):
        explain("active")


def test_hostport() -> None:
    assert _ftp_hostport("192.168.1.2", 50000) == "192,168,1,2,195,80"
