"""HOST[:PORT] parsing, --advertise, credentials and ~/.netrc."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftptrace.errors import UsageError
from ftptrace.probe.commands import parse_advertise
from ftptrace.probe.passive import choose_data_address
from ftptrace.probe.target import ANONYMOUS, Target, credentials, split_host_port


@pytest.mark.parametrize("text,expected", [
    ("198.51.100.2", ("198.51.100.2", 21)),
    ("ftp.example.net:2121", ("ftp.example.net", 2121)),
    ("[2001:db8::2]:21", ("2001:db8::2", 21)),
    ("2001:db8::2", ("2001:db8::2", 21)),
    ("[2001:db8::2]", ("2001:db8::2", 21)),
])
def test_split_host_port(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text) == expected


@pytest.mark.parametrize("text", ["", "host:0", "host:99999", "[::1", "[::1]x", ":21"])
def test_split_host_port_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        split_host_port(text)


def test_parse_advertise() -> None:
    assert parse_advertise(None) == (None, None)
    assert parse_advertise("203.0.113.2") == ("203.0.113.2", None)
    assert parse_advertise("203.0.113.2:40000") == ("203.0.113.2", 40000)
    assert parse_advertise(":40000") == (None, 40000)
    assert parse_advertise("[2001:db8::10]:40000") == ("2001:db8::10", 40000)
    with pytest.raises(UsageError):
        parse_advertise("myhost")


T = Target(name="ftp.example.net", ip="198.51.100.2")


def test_anonymous_by_default(tmp_path: Path) -> None:
    c = credentials(T, None, None, tmp_path / "none")
    assert c.user == ANONYMOUS and c.source == "anonymous"


def test_netrc_entry_for_the_host(tmp_path: Path) -> None:
    rc = tmp_path / "netrc"
    rc.write_text("machine ftp.example.net login bob password hunter22\n"
                  "default login anonymous password guest@\n")
    rc.chmod(0o600)
    c = credentials(T, None, None, rc)
    assert (c.user, c.password) == ("bob", "hunter22")
    assert c.source == str(rc)
    # --user alice has no entry: the password is not bob's
    c = credentials(T, "alice", None, rc)
    assert c.user == "alice" and c.password != "hunter22"
    c = credentials(T, "bob", "override", rc)
    assert c.password == "override"
    other = Target(name="other.example", ip="192.0.2.7")
    assert credentials(other, None, None, rc).password == "guest@"


def test_bad_netrc_is_a_usage_error(tmp_path: Path) -> None:
    rc = tmp_path / "netrc"
    rc.write_text("machine\n")
    with pytest.raises(UsageError):
        credentials(T, None, None, rc)


def test_choose_data_address_policy() -> None:
    peer = "198.51.100.2"
    assert choose_data_address(None, peer, follow=False, allow_third_party=False).ip == peer
    assert choose_data_address(peer, peer, follow=True, allow_third_party=False).note == ""
    c = choose_data_address("192.168.1.2", peer, follow=False, allow_third_party=False)
    assert c.ip == peer and "instead" in c.note
    c = choose_data_address("192.168.1.2", peer, follow=True, allow_third_party=False)
    assert c.ip == "192.168.1.2" and c.followed
    c = choose_data_address("0.0.0.0", peer, follow=True, allow_third_party=False)
    assert c.ip == peer
    c = choose_data_address("192.0.2.50", peer, follow=True, allow_third_party=False)
    assert c.ip == peer and c.third_party and "bounce" in c.note
    c = choose_data_address("192.0.2.50", peer, follow=True, allow_third_party=True)
    assert c.ip == "192.0.2.50"
