"""FTP server configuration per scenario (no root needed)."""

from __future__ import annotations

from pathlib import Path

from ftptrace.lab import servers
from ftptrace.lab.scenarios import SCENARIOS
from ftptrace.lab.servers import ServerConfig


def conf(cfg: ServerConfig) -> dict[str, str]:
    text = servers.vsftpd_conf(cfg, Path("/x/root"), Path("/x"))
    return dict(line.split("=", 1) for line in text.splitlines())


def test_foreground_in_a_namespace() -> None:
    c = conf(ServerConfig())
    assert c["background"] == "NO" and c["seccomp_sandbox"] == "NO"
    assert c["listen"] == "YES" and c["listen_ipv6"] == "NO"
    assert c["anon_root"] == "/x/root" and c["local_enable"] == "NO"
    assert c["pasv_min_port"] == "50000" and c["pasv_max_port"] == "50009"
    assert c["pasv_address"] == "198.51.100.2"


def test_ipv6_listener_replaces_ipv4() -> None:
    c = conf(ServerConfig(ipv6=True, listen_address="::1"))
    assert c["listen"] == "NO" and c["listen_ipv6"] == "YES"
    assert c["listen_address6"] == "::1"


def test_private_pasv_address_means_no_setting() -> None:
    assert "pasv_address" not in conf(ServerConfig(pasv_address=None))


def test_tls_settings() -> None:
    c = conf(ServerConfig(tls=True))
    assert c["ssl_enable"] == "YES" and c["allow_anon_ssl"] == "YES"
    assert c["rsa_cert_file"] == "/x/cert.pem"


def test_waits_are_short() -> None:
    c = conf(ServerConfig())
    assert int(c["connect_timeout"]) <= 5 and int(c["accept_timeout"]) <= 10


def test_no_scenario_hits_the_vsftpd_bind_quirk() -> None:
    """vsftpd 3.0.3: port_promiscuous=YES with connect_from_port_20=YES gives
    '500 OOPS: vsf_sysutil_bind' (lab-notes)."""
    for s in SCENARIOS:
        if s.name == "port-vsftpd-bind-oops":  # the one that shows the quirk on purpose
            assert s.server.port_promiscuous and s.server.connect_from_port_20
            continue
        assert not (s.server.port_promiscuous and s.server.connect_from_port_20), s.name


def test_test_files(tmp_path: Path) -> None:
    root = servers.prepare_root(tmp_path)
    assert (root / "test.txt").read_bytes() == servers.TEST_TXT
    assert len(servers.TEST_TXT) == 10
    assert (root / "test.jpg").stat().st_size == 100 * 1024
    assert (root / "upload").is_dir()


def test_pyftpdlib_argv(tmp_path: Path) -> None:
    argv = servers.server_argv(
        servers.ServerKind.PYFTPDLIB, ServerConfig(port_promiscuous=True), tmp_path
    )
    assert argv[1:3] == ["-m", "ftptrace.lab.pyftpd"]
    assert "--promiscuous" in argv and "--masquerade" in argv


def test_listening_on_reads_proc(tmp_path: Path) -> None:
    assert not servers.listening_on(2**22 + 7, 21)  # no such process: just False
