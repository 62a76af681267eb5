"""`ftptrace replay` end to end: files in, report/JSON and exit status out."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ftptrace.cli import app

from wire import Ftp, Wire, ep, write_pcap

runner = CliRunner()
PACKETS_IN_FAILING_CAPTURE = 18


def failing_pasv_capture(path: Path) -> Path:
    w = Wire(hops={"198.51.100.2": 4})
    ftp = Ftp(w, "203.0.113.10:40000", "198.51.100.2:21")
    ftp.login("bob", "hunter2-secret")
    ftp.cmd("PASV", "227 Entering Passive Mode (192,168,1,2,195,80).")
    w.syn(ep("203.0.113.10:40001"), ep("198.51.100.2:50000"), count=3)
    ftp.reply("425 Failed to establish connection.")
    ftp.quit()
    write_pcap(w.packets, str(path))
    assert len(w.packets) == PACKETS_IN_FAILING_CAPTURE
    return path


def healthy_capture(path: Path) -> Path:
    w = Wire(hops={"198.51.100.2": 4})
    ftp = Ftp(w, "203.0.113.10:40000", "198.51.100.2:21")
    ftp.login()
    ftp.cmd("EPSV", "229 Entering Extended Passive Mode (|||50000|)")
    d = w.connect(ep("203.0.113.10:40001"), ep("198.51.100.2:50000"))
    ftp.cmd("RETR test.txt", "150 Opening BINARY mode data connection.")
    w.b_says(d, b"0123456789")
    w.close(d)
    ftp.reply("226 Transfer complete.")
    ftp.quit()
    write_pcap(w.packets, str(path))
    return path


def test_json_document_follows_the_schema(tmp_path: Path) -> None:
    cap = failing_pasv_capture(tmp_path / "c.pcap")
    result = runner.invoke(app, ["replay", "--json", str(cap)])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["schema"] == "ftptrace/1"
    assert doc["captures"][0]["packets"] == PACKETS_IN_FAILING_CAPTURE
    (s,) = doc["sessions"]
    assert s["client"] == {"ip": "203.0.113.10", "port": 40000}
    assert s["user"] == "bob" and s["tls"] is False
    assert {"ts", "command", "arg", "reply"} <= set(s["commands"][0])
    (ch,) = s["data_channels"]
    assert ch["via"] == "PASV" and ch["passive"] is True
    assert ch["announced"] == {"ip": "192.168.1.2", "port": 50000}
    assert ch["expected"] == {
        "orig_ip": "203.0.113.10",
        "resp_ip": "192.168.1.2",
        "resp_port": 50000,
    }
    assert ch["outcome"] == "unanswered" and ch["inferred"] is False
    assert ch["connection"]["orig"] == {"ip": "203.0.113.10", "port": 40001}
    codes = {f["code"] for f in doc["findings"]}
    assert {"PASV_PRIVATE_ADDRESS", "DATA_SYN_UNANSWERED"} <= codes
    for f in doc["findings"]:
        assert f["severity"] in {"error", "warning", "info"}
        assert f["evidence"] and all(e["frame"] > 0 for e in f["evidence"])


def test_password_never_appears(tmp_path: Path) -> None:
    cap = failing_pasv_capture(tmp_path / "c.pcap")
    for args in (["replay", str(cap)], ["replay", "--json", str(cap)]):
        result = runner.invoke(app, args)
        assert "hunter2" not in result.output
        assert "PASS ****" in result.output or '"****"' in result.output


def test_healthy_capture_exits_zero(tmp_path: Path) -> None:
    result = runner.invoke(app, ["replay", str(healthy_capture(tmp_path / "ok.pcap"))])
    assert result.exit_code == 0, result.output
    assert "No problems found" in result.output
    assert "RETR test.txt" in result.output


def test_unreadable_input_is_exit_2_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("this is not a capture\n")
    result = runner.invoke(app, ["replay", str(bad)])
    assert result.exit_code == 2
    assert "notes.txt" in result.stderr
    missing = runner.invoke(app, ["replay", str(tmp_path / "nope.pcap")])
    assert missing.exit_code == 2 and "nope.pcap" in missing.stderr


def test_one_bad_file_does_not_lose_the_others(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"\x00" * 64)
    good = healthy_capture(tmp_path / "ok.pcap")
    result = runner.invoke(app, ["replay", "--json", str(bad), str(good)])
    assert result.exit_code == 0
    assert "bad.pcap" in result.stderr
    assert len(json.loads(result.stdout)["sessions"]) == 1


def test_truncated_capture_keeps_what_was_read(tmp_path: Path) -> None:
    cap = healthy_capture(tmp_path / "ok.pcap")
    data = cap.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) - 7])
    result = runner.invoke(app, ["replay", "--json", str(cut)])
    doc = json.loads(result.stdout)
    assert doc["captures"][0]["warnings"], "the truncated tail must be reported"
    assert "CAPTURE_DAMAGED" in {f["code"] for f in doc["findings"]}
    assert len(doc["sessions"]) == 1


def test_bad_ports_option_is_usage_error(tmp_path: Path) -> None:
    cap = healthy_capture(tmp_path / "ok.pcap")
    result = runner.invoke(app, ["replay", "--ports", "21,x", str(cap)])
    assert result.exit_code == 2


def test_version_and_help() -> None:
    assert runner.invoke(app, ["--version"]).stdout.startswith("ftptrace ")
    assert "replay" in runner.invoke(app, ["--help"]).stdout


def test_control_channel_on_another_port_found_by_its_greeting(tmp_path: Path) -> None:
    """No --ports needed: a 220 greeting marks a control channel (RFC 959 §5.4)."""
    w = Wire(hops={"198.51.100.2": 4})
    ftp = Ftp(w, "203.0.113.10:40000", "198.51.100.2:2121")
    ftp.login()
    ftp.cmd("EPSV", "229 Entering Extended Passive Mode (|||50000|)")
    w.syn(ep("203.0.113.10:40001"), ep("198.51.100.2:50000"), count=2)
    ftp.quit()
    for i in range(3):  # unrelated bulk traffic around it
        d = w.connect(ep(f"203.0.113.10:{41000 + i}"), ep("198.51.100.7:443"))
        w.b_says(d, b"\x17\x03\x03" + b"x" * 40)
    cap = tmp_path / "c.pcap"
    write_pcap(w.packets, str(cap))
    doc = json.loads(runner.invoke(app, ["replay", "--json", str(cap)]).stdout)
    (s,) = doc["sessions"]
    assert s["server"]["port"] == 2121
    assert s["data_channels"][0]["outcome"] == "unanswered"
