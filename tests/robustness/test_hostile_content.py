"""Valid captures with hostile FTP inside: floods, endless replies, odd bytes, bounce bait.

Each capture goes through every output (terminal, JSON, HTML report, annotated pcapng and
all diagram formats): no traceback, a parseable document, a well-formed SVG, and the
specific diagnosis the brief asks for.
"""

from __future__ import annotations

import copy
import json
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftptrace.replay import read_trace

from .helpers import assert_sane_exit, cli, json_doc
from wire import Ftp, Wire, ep, write_pcap

CLIENT, SERVER = "203.0.113.10:40000", "198.51.100.2:21"
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _chunks(data: bytes, size: int = 60_000) -> list[bytes]:
    """Pieces that fit one IPv4 packet each (the wire writer cannot exceed 65535 bytes)."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def _session() -> tuple[Wire, Ftp]:
    w = Wire(hops={"198.51.100.2": 4})
    ftp = Ftp(w, CLIENT, SERVER)
    ftp.login("bob", "s3cret-pw")
    return w, ftp


def pending_flood() -> Wire:
    w, ftp = _session()
    w.a_says(ftp.f, b"NOOP\r\n" * 10_000)
    ftp.quit()
    return w


def endless_multiline() -> Wire:
    w, ftp = _session()
    ftp.cmd("STAT")
    w.b_says(ftp.f, b"211-status follows\r\n")
    for _ in range(40):
        w.b_says(ftp.f, b" more status, and more\r\n" * 100)
    ftp.quit()
    return w


def megabyte_line() -> Wire:
    w, ftp = _session()
    ftp.cmd("SYST")
    for _ in range(16):
        w.b_says(ftp.f, b"215 " + b"A" * 65_000)
    w.b_says(ftp.f, b"\r\n")
    for piece in _chunks(b"SITE " + b"B" * 1_000_000 + b"\r\n"):
        w.a_says(ftp.f, piece)
    ftp.quit()
    return w


def nul_bytes() -> Wire:
    w, ftp = _session()
    ftp.cmd("PWD", '257 "/\x00etc" is \x00 the cwd')
    ftp.cmd("CWD \x00\x00", "250 ok\x00")
    ftp.cmd("PASV", "227 Entering Passive Mode (198,51,100,2,\x00195,80).")
    ftp.quit()
    return w


def port_zero() -> Wire:
    w, ftp = _session()
    ftp.cmd("PORT 203,0,113,10,0,0", "200 PORT command successful.")
    ftp.cmd("LIST", "425 Can't open data connection.")
    ftp.quit()
    return w


def eprt_weird_delimiters() -> Wire:
    w, ftp = _session()
    for d in ("\x7f", " ", "1", "é", "||", "|", "$", "\t"):
        ftp.cmd(f"EPRT {d}1{d}203.0.113.10{d}5000{d}", "200 EPRT command successful.")
    ftp.cmd("EPRT |3|203.0.113.10|5000|", "522 Use (1,2)")
    ftp.cmd("EPSV", "229 Entering Extended Passive Mode (aaa50000a)")
    ftp.cmd("EPSV", "229 (ééé50001é)")
    ftp.cmd("EPSV", "229 (|||99999|)")
    ftp.quit()
    return w


def non_utf8() -> Wire:
    w = Wire(hops={"198.51.100.2": 4})
    ftp = Ftp(w, CLIENT, SERVER, banner="220 caf\xe9")
    w.a_says(ftp.f, b"USER b\xffo\xfe\xc3\r\n")
    w.b_says(ftp.f, b"331 pw for b\xffo\xfe\xc3\r\n")
    w.a_says(ftp.f, b"PASS pw\xe9\xff\xfe12\r\n")
    w.b_says(ftp.f, b"230 hi \xef\xbf\xbf \xef\xbf\xbe \xed\xa0\x80 \xc3\x28\r\n")
    w.a_says(ftp.f, b"PASV\r\n")
    w.b_says(ftp.f, b"227 Entering \xef\xbf\xbf (198,51,100,2,\xff195,80).\r\n")
    w.a_says(ftp.f, b"LIST \xff\xfe\r\n")
    w.b_says(ftp.f, b"425 \xef\xbf\xbe no\r\n")
    ftp.quit()
    return w


def third_party_227() -> Wire:
    """A 227 naming a public host that is not the server (the bounce bait of RFC 2577), and
    an unrelated HTTPS connection of the client to yet another host on the same port."""
    w, ftp = _session()
    ftp.cmd("PASV", "227 Entering Passive Mode (8,8,8,8,1,187).")
    w.connect(ep("203.0.113.10:40001"), ep("93.184.216.34:443"))
    ftp.cmd("LIST", "425 Can't open data connection.")
    ftp.quit()
    return w


HOSTILE: dict[str, Callable[[], Wire]] = {f.__name__: f for f in (
    pending_flood, endless_multiline, megabyte_line, nul_bytes, port_zero,
    eprt_weird_delimiters, non_utf8, third_party_227)}


def _write(tmp: Path, w: Wire) -> Path:
    path = tmp / "hostile.pcap"
    write_pcap(w.packets, str(path))
    return path


def _everything(path: Path, tmp: Path) -> dict[str, Any]:
    """All outputs of one capture; returns the JSON document."""
    for args in (["replay"], ["diagram"], ["diagram", "-f", "mermaid"]):
        assert_sane_exit(cli(*args, path))
    svg = cli("diagram", "-f", "svg", path)
    assert_sane_exit(svg)
    ET.fromstring(svg.stdout)  # well-formed XML whatever the server said
    html = cli("diagram", "-f", "html", "-o", tmp / "d.html", path)
    assert_sane_exit(html)
    full = cli("replay", "--json", "--report", tmp / "r.html", "--annotate", tmp / "a.pcapng",
               path)
    assert_sane_exit(full)
    assert full.exit_code in (0, 1)
    (tmp / "doc.json").write_text(full.stdout)
    for fmt in ("terminal", "mermaid", "svg", "html"):
        assert_sane_exit(cli("diagram", "--from-json", tmp / "doc.json", "-f", fmt))
    streamed = cli("replay", "--json", path)
    assert_sane_exit(streamed)
    return json_doc(streamed)


def _anomalies(doc: dict[str, Any]) -> str:
    return " ".join(f["summary"] for f in doc["findings"] if f["code"] == "PROTOCOL_ANOMALY")


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_dialogue_through_every_output(tmp_path: Path, name: str) -> None:
    doc = _everything(_write(tmp_path, HOSTILE[name]()), tmp_path)
    (s,) = doc["sessions"]
    if name == "pending_flood":
        assert "too-many-pending" in _anomalies(doc)
    elif name == "megabyte_line":
        assert "line-too-long" in _anomalies(doc)
        assert all(len(c.get("arg") or "") <= 8192 for c in s["commands"])
    elif name == "endless_multiline":
        assert len(json.dumps(doc)) < 200_000, "an endless reply is kept bounded"
    elif name == "nul_bytes":
        assert "binary-garbage" in _anomalies(doc)
    elif name == "port_zero":
        assert "port-zero" in _anomalies(doc)
    elif name == "eprt_weird_delimiters":
        assert "bad-address" in _anomalies(doc)
        assert {c["announced"]["port"] for c in s["data_channels"]} <= {5000, 50000, 50001}
    elif name == "third_party_227":
        third = [f for f in doc["findings"] if f["code"] == "PASV_THIRD_PARTY"]
        assert third and "8.8.8.8:443" in third[0]["summary"]


def test_third_party_227_is_not_matched_to_unrelated_traffic(tmp_path: Path) -> None:
    """The client never dialled 8.8.8.8 (it ignores the 227 address, as curl does) and
    the only connection on port 443 goes to an unrelated host: that connection is not this
    data channel. `SessionDraft.match` once accepted any connection from the client to
    *any* address on the announced port ('port' match) and reported the channel as
    established; the 'port' fallback now requires the control peers at both ends
    (passive: client → server; active: server → client)."""
    doc = json_doc(cli("replay", "--json", _write(tmp_path, third_party_227())))
    (ch,) = doc["sessions"][0]["data_channels"]
    conn = ch["connection"]
    assert conn is None or conn["resp"]["ip"] in ("8.8.8.8", "198.51.100.2")
    assert ch["outcome"] != "established"


def test_memory_does_not_grow_with_the_commands_of_one_session(tmp_path: Path) -> None:
    """One control connection with many commands (a crafted or simply very long session):
    `SessionDraft` once kept every command, every reply and its `by_seq` entry, so memory
    grew without bound with the capture (~450 bytes per command). It now keeps the first
    and the last MAX_COMMANDS // 2 commands (anomaly "too-many-commands"), drops `by_seq`
    entries the FtpSession gave up on (MAX_PENDING), and caps channels likewise."""

    def peak(n: int) -> int:
        w, ftp = _session()
        for i in range(0, n, 4000):
            k = min(4000, n - i)
            w.a_says(ftp.f, b"NOOP\r\n" * k)
            w.b_says(ftp.f, b"200 NOOP ok.\r\n" * k)
        ftp.quit()
        path = tmp_path / f"{n}.pcap"
        write_pcap(w.packets, str(path))
        tracemalloc.start()
        try:
            read_trace(path)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(1_000), peak(15_000)
    assert large < 2 * small + (1 << 20), f"{small >> 10} KiB → {large >> 10} KiB"


# --- random hostile dialogues ---------------------------------------------------------------

_TOKENS = [b"227 ", b"229 ", b"200 ", b"425 ", b"150 ", b"226 ", b"230-", b"230 ", b"(", b")",
           b",", b"|", b"1", b"9", b"255", b"\xff", b"\xef\xbf\xbf", b"\xc2\x9b", b"[/b]",
           b"[red]", b"<", b"&", b"]]>", b"#", b";", b"%%{", b"\r\n", b"\n", b" ", b"PASS ",
           b"PORT ", b"EPRT ", b"\x00", b"\t", b"```", b"{{", b"}}", b"\xe9", b"8,8,8,8,0,21",
           b"10,0,0,1,195,80", b"|||0|", b"|2|::1|21|", b"\x1b[2J", b"-->", b"<script>"]


@SETTINGS
@given(st.lists(st.tuples(st.booleans(), st.lists(st.sampled_from(_TOKENS), max_size=12),
                          st.sampled_from([None, "198.51.100.2:50000", "8.8.8.8:21",
                                           "10.0.0.1:50000"])),
                min_size=1, max_size=8))
def test_random_hostile_dialogue(tmp_path_factory: pytest.TempPathFactory,
                                 turns: list[tuple[bool, list[bytes], str | None]]) -> None:
    tmp = tmp_path_factory.mktemp("dlg")
    w, ftp = _session()
    for from_client, tokens, syn_to in turns:
        line = b"".join(tokens) + b"\r\n"
        if from_client:
            w.a_says(ftp.f, b"PASV\r\n" if not tokens else line)
        else:
            w.b_says(ftp.f, line)
        if syn_to is not None:
            w.syn(ep("203.0.113.10:40001"), ep(syn_to))
    ftp.quit()
    path = _write(tmp, w)
    svg = cli("diagram", "-f", "svg", path)
    assert_sane_exit(svg)
    ET.fromstring(svg.stdout)
    r = cli("replay", "--json", "--report", tmp / "r.html", path)
    assert_sane_exit(r)
    json_doc(r)


# --- hand-edited or foreign documents for `diagram --from-json` --------------------------------

_JUNK = st.one_of(st.none(), st.booleans(), st.integers(-2, 2**64), st.floats(),
                  st.text(max_size=5), st.just("\ud800"), st.lists(st.none(), max_size=2),
                  st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _paths(o: Any, p: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [p]
    if isinstance(o, dict):
        for k, v in o.items():
            out += _paths(v, (*p, k))
    elif isinstance(o, list):
        for i, v in enumerate(o):
            out += _paths(v, (*p, i))
    return out


@pytest.fixture(scope="module")
def good_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    w, ftp = _session()
    ftp.cmd("PASV", "227 Entering Passive Mode (192,168,1,2,195,80).")
    w.syn(ep("203.0.113.10:40001"), ep("192.168.1.2:50000"), count=2)
    ftp.cmd("LIST", "425 Can't open data connection.")
    ftp.quit()
    return json_doc(cli("replay", "--json", _write(tmp_path_factory.mktemp("doc"), w)))


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_malformed_documents_are_a_clear_error(tmp_path_factory: pytest.TempPathFactory,
                                               good_doc: dict[str, Any],
                                               data: st.DataObject) -> None:
    doc = copy.deepcopy(good_doc)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(doc)[1:]))
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = data.draw(_JUNK)
    f = tmp_path_factory.mktemp("j") / "doc.json"
    f.write_text(json.dumps(doc))
    for fmt in ("terminal", "mermaid", "svg", "html"):
        r = cli("diagram", "--from-json", f, "-f", fmt)
        assert_sane_exit(r)


def c1_controls() -> Wire:
    """C1 controls: U+009B is CSI and U+009D OSC to many terminals (screen, clipboard)."""
    w = Wire(hops={"198.51.100.2": 4})
    ftp = Ftp(w, CLIENT, SERVER, banner="220 hello \x9b2J")
    w.a_says(ftp.f, "USER \x9d52;c;cHduZWQ=\x9c\r\n".encode())
    w.b_says(ftp.f, b"331 \xc2\x9b31m password please\r\n")
    w.a_says(ftp.f, b"PASV\r\n")
    w.b_says(ftp.f, b"227 Entering \x9b2J (192,168,1,2,195,80)\r\n")  # latin-1 fallback
    ftp.cmd("LIST", "425 \x9d0;pwned\x9c")
    ftp.quit()
    return w


def test_c1_controls_never_reach_the_terminal(tmp_path: Path) -> None:
    path = _write(tmp_path, c1_controls())
    r = cli("replay", path)
    assert_sane_exit(r)
    assert "PASV" in r.stdout and "227" in r.stdout
    for c in map(chr, range(0x80, 0xA0)):
        assert c not in r.stdout, f"U+{ord(c):04X} printed to the terminal"
