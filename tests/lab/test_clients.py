"""Client command lines per mode (no root needed)."""

from __future__ import annotations

import pytest

from ftptrace.errors import UsageError
from ftptrace.lab.clients import ClientJob, ClientKind, Mode, client_argv, mask_secrets


def job(kind: ClientKind, mode: Mode, host: str = "198.51.100.2", **kw: object) -> ClientJob:
    return ClientJob(kind=kind, mode=mode, host=host, **kw)  # type: ignore[arg-type]


def test_curl_modes() -> None:
    pasv = client_argv(job(ClientKind.CURL, Mode.PASV))
    assert "--disable-epsv" in pasv and "--ftp-port" not in pasv
    epsv = client_argv(job(ClientKind.CURL, Mode.EPSV))
    assert "--disable-epsv" not in epsv and "--ftp-port" not in epsv
    port = client_argv(job(ClientKind.CURL, Mode.PORT))
    assert port[port.index("--ftp-port") + 1] == "-" and "--disable-eprt" in port
    eprt = client_argv(job(ClientKind.CURL, Mode.EPRT))
    assert "--ftp-port" in eprt and "--disable-eprt" not in eprt
    for argv in (pasv, epsv, port, eprt):
        assert "--connect-timeout" in argv and "--max-time" in argv
        assert argv[-1] == "ftp://198.51.100.2/test.jpg"


def test_curl_trusts_227_only_when_asked() -> None:
    assert "--no-ftp-skip-pasv-ip" not in client_argv(job(ClientKind.CURL, Mode.PASV))
    assert "--no-ftp-skip-pasv-ip" in client_argv(job(ClientKind.CURL, Mode.PASV, trust_pasv=True))


def test_ipv6_urls_are_bracketed() -> None:
    argv = client_argv(job(ClientKind.CURL, Mode.EPSV, host="2001:db8:1::2"))
    assert argv[-1] == "ftp://[2001:db8:1::2]/test.jpg"


def test_pasv_cannot_carry_ipv6() -> None:
    with pytest.raises(UsageError):
        client_argv(job(ClientKind.CURL, Mode.PASV, host="2001:db8:1::2"))


def test_lftp_settings() -> None:
    script = client_argv(job(ClientKind.LFTP, Mode.PASV))[2]
    assert "set ftp:passive-mode on" in script and "set ftp:prefer-epsv no" in script
    assert "set net:timeout 3" in script and "set net:max-retries 1" in script
    script = client_argv(job(ClientKind.LFTP, Mode.EPSV))[2]
    assert "set ftp:prefer-epsv yes" in script
    script = client_argv(job(ClientKind.LFTP, Mode.PORT))[2]
    assert "set ftp:passive-mode off" in script
    with pytest.raises(UsageError):
        client_argv(job(ClientKind.LFTP, Mode.EPRT))


def test_ftplib_argv() -> None:
    argv = client_argv(job(ClientKind.FTPLIB, Mode.EPRT, transfers=3, trust_pasv=True))
    assert argv[1:4] == ["-m", "ftptrace.lab.ftpclient", "198.51.100.2"]
    assert argv[argv.index("--mode") + 1] == "eprt"
    assert argv[argv.index("--transfers") + 1] == "3" and "--trust-pasv" in argv


def test_curl_refuses_several_transfers() -> None:
    with pytest.raises(UsageError):
        client_argv(job(ClientKind.CURL, Mode.PASV, transfers=2))


def test_mask_secrets() -> None:
    text = "> USER anonymous\n> PASS ftp@example.com\n---> PASS secret\n*cmd* 'PASS *****'"
    masked = mask_secrets(text)
    assert "ftp@example.com" not in masked and "secret" not in masked
    assert "> USER anonymous" in masked
    assert "PASSIVE" in mask_secrets("PASSIVE mode")
