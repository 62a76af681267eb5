"""Each rule against the conversation that should (and should not) trigger it."""

from __future__ import annotations

from ftptrace.diagnose.findings import Code, Finding, Severity, Where
from ftptrace.diagnose.rules import diagnose

from wire import Ftp, Wire, ep

CLIENT = "203.0.113.10:40000"
SERVER = "198.51.100.2:21"


def client_side() -> Wire:
    return Wire(hops={"203.0.113.10": 0, "198.51.100.2": 4, "203.0.113.1": 1})


def server_side() -> Wire:
    return Wire(hops={"203.0.113.10": 4, "192.168.1.2": 0})


def codes(findings: tuple[Finding, ...]) -> list[str]:
    return [f.code.value for f in findings]


def one(findings: tuple[Finding, ...], code: Code) -> Finding:
    found = [f for f in findings if f.code is code]
    assert len(found) == 1, codes(findings)
    return found[0]


def test_healthy_pasv_session_has_no_findings() -> None:
    w = client_side()
    ftp = Ftp(w, CLIENT, SERVER)
    ftp.login()
    ftp.cmd("PASV", "227 Entering Passive Mode (198,51,100,2,195,80).")
    w.connect(ep("203.0.113.10:40001"), ep("198.51.100.2:50000"))
    ftp.cmd("LIST", "150 ok", "226 ok")
    assert diagnose(w.trace()) == ()


def test_private_pasv_address_seen_from_the_client() -> None:
    w = client_side()
    ftp = Ftp(w, CLIENT, SERVER)
    ftp.cmd("PASV", "227 Entering Passive Mode (192,168,1,2,195,80).")
    w.syn(ep("203.0.113.10:40001"), ep("192.168.1.2:50000"))
    w.icmp("203.0.113.1", ep("203.0.113.10:40001"), ep("192.168.1.2:50000"))
    found = diagnose(w.trace())
    f = one(found, Code.PASV_PRIVATE_ADDRESS)
    assert f.severity is Severity.ERROR and f.where is Where.SERVER_HOST
    assert "192.168.1.2:50000" in f.summary
    assert "pasv_address" in f.hint
    u = one(found, Code.DATA_UNREACHABLE)
    assert u.where is Where.SERVER_HOST and "203.0.113.1" in u.summary


def test_private_pasv_address_seen_from_the_server_side() -> None:
    # On the server's LAN the control peer *is* 192.168.1.2, but the client is outside.
    w = server_side()
    ftp = Ftp(w, CLIENT, "192.168.1.2:21")
    ftp.cmd("PASV", "227 Entering Passive Mode (192,168,1,2,195,80).")
    assert Code.PASV_PRIVATE_ADDRESS.value in codes(diagnose(w.trace()))


def test_nat_aware_server_announcing_public_address_is_fine() -> None:
    w = server_side()
    ftp = Ftp(w, CLIENT, "192.168.1.2:21")
    ftp.cmd("PASV", "227 Entering Passive Mode (198,51,100,2,195,80).")
    w.connect(ep("203.0.113.10:40001"), ep("192.168.1.2:50000"))
    ftp.cmd("LIST", "150 ok", "226 ok")
    assert diagnose(w.trace()) == ()


def test_third_party_pasv_address_is_reported() -> None:
    w = client_side()
    ftp = Ftp(w, CLIENT, SERVER)
    ftp.cmd("PASV", "227 Entering Passive Mode (192,0,2,77,195,80).")
    assert one(diagnose(w.trace()), Code.PASV_THIRD_PARTY).severity is Severity.WARNING


def test_passive_port_silently_dropped_is_server_router() -> None:
    w = client_side()
    ftp = Ftp(w, CLIENT, SERVER)
    ftp.cmd("EPSV", "229 Entering Extended Passive Mode (|||50000|)")
    w.syn(ep("203.0.113.10:40001"), ep("198.51.100.2:50000"), count=4)
    f = one(diagnose(w.trace()), Code.DATA_SYN_UNANSWERED)
    assert f.where is Where.SERVER_ROUTER and "4 SYN" in f.summary


def test_passive_syn_reaching_the_server_host_unanswered_is_server_host() -> None:
    w = server_side()
    ftp = Ftp(w, CLIENT, "192.168.1.2:21")
    ftp.cmd("PASV", "227 Entering Passive Mode (198,51,100,2,195,80).")
    w.syn(ep("203.0.113.10:40001"), ep("192.168.1.2:50000"), count=3)
    assert one(diagnose(w.trace()), Code.DATA_SYN_UNANSWERED).where is Where.SERVER_HOST


def test_rst_one_hop_closer_than_the_server_is_its_router() -> None:
    w = client_side()
    ftp = Ftp(w, CLIENT, SERVER)
    ftp.cmd("PASV", "227 Entering Passive Mode (198,51,100,2,195,80).")
    w.syn(ep("203.0.113.10:40001"), ep("198.51.100.2:50000"))
    w.rst(ep("198.51.100.2:50000"), ep("203.0.113.10:40001"), ttl=61)
    f = one(diagnose(w.trace()), Code.DATA_REFUSED)
    assert f.where is Where.SERVER_ROUTER and "a box on the path" in f.summary


def test_partly_forwarded_range() -> None:
    w = client_side()
    ftp = Ftp(w, CLIENT, SERVER)
    for i, port in enumerate((50000, 50001, 50007, 50008)):
        ftp.cmd("PASV", f"227 Entering Passive Mode (198,51,100,2,{port >> 8},{port & 255}).")
        c = ep(f"203.0.113.10:{41000 + i}")
        if port < 50005:
            w.connect(c, ep(f"198.51.100.2:{port}"))
            ftp.cmd("LIST", "150 ok", "226 ok")
        else:
            w.syn(c, ep(f"198.51.100.2:{port}"), count=2)
    f = one(diagnose(w.trace()), Code.PASSIVE_RANGE_PARTIALLY_FORWARDED)
    assert "50000, 50001 work" in f.summary and "50007, 50008 fail" in f.summary
    assert f.where is Where.SERVER_ROUTER


def test_port_rejected_behind_nat() -> None:
    w = Wire(hops={"10.0.0.2": 0, "198.51.100.2": 5})
    ftp = Ftp(w, "10.0.0.2:40000", SERVER)
    ftp.cmd("PORT 10,0,0,2,156,64", "500 Illegal PORT command.")
    found = diagnose(w.trace())
    f = one(found, Code.PORT_REJECTED)
    assert f.where is Where.CLIENT_ROUTER and "500 Illegal PORT command." in f.summary
    assert one(found, Code.PORT_PRIVATE_ADDRESS).severity is Severity.WARNING


def test_server_syn_dropped_by_client_host_firewall() -> None:
    w = client_side()
    ftp = Ftp(w, CLIENT, SERVER)
    ftp.cmd("PORT 203,0,113,10,156,64", "200 PORT command successful.")
    ftp.cmd("LIST")
    w.syn(ep("198.51.100.2:20"), ep("203.0.113.10:40000"), count=3)
    ftp.reply("425 Failed to establish connection.")
    f = one(diagnose(w.trace()), Code.DATA_SYN_UNANSWERED)
    assert f.where is Where.CLIENT_HOST and "local firewall" in f.hint


def test_active_connect_failed_without_packets() -> None:
    w = client_side()
    ftp = Ftp(w, CLIENT, SERVER)
    ftp.cmd("EPRT |1|203.0.113.10|40000|", "200 EPRT command successful.")
    ftp.cmd("LIST", "425 Failed to establish connection.")
    assert one(diagnose(w.trace()), Code.ACTIVE_CONNECT_FAILED).severity is Severity.ERROR


def test_active_source_port_not_20_is_info() -> None:
    w = client_side()
    ftp = Ftp(w, CLIENT, SERVER)
    ftp.cmd("PORT 203,0,113,10,156,64", "200 ok")
    w.connect(ep("198.51.100.2:38123"), ep("203.0.113.10:40000"))
    ftp.cmd("LIST", "150 ok", "226 ok")
    f = one(diagnose(w.trace()), Code.ACTIVE_SOURCE_PORT_NOT_20)
    assert f.severity is Severity.INFO and "38123" in f.summary


def test_control_refused_unanswered_and_login_failed() -> None:
    w = client_side()
    w.syn(ep(CLIENT), ep(SERVER))
    w.rst(ep(SERVER), ep(CLIENT))
    w.syn(ep("203.0.113.10:40001"), ep("198.51.100.9:21"), count=3)
    ftp = Ftp(w, "203.0.113.10:40002", SERVER)
    ftp.cmd("USER bob", "331 Please specify the password.")
    ftp.cmd("PASS hunter2", "530 Login incorrect.")
    found = diagnose(w.trace())
    assert {"CONTROL_REFUSED", "CONTROL_UNANSWERED", "LOGIN_FAILED"} <= set(codes(found))
    assert all("hunter2" not in f.summary + f.hint for f in found)


def test_tls_and_inferred_transfer() -> None:
    w = client_side()
    ftp = Ftp(w, CLIENT, SERVER)
    ftp.cmd("PASV", "227 Entering Passive Mode (198,51,100,2,195,80).")
    ftp.cmd("RETR a", "150 ok", "226 ok")
    ftp.cmd("AUTH TLS", "234 go")
    found = diagnose(w.trace())
    assert one(found, Code.CONTROL_ENCRYPTED).severity is Severity.WARNING
    assert one(found, Code.DATA_NOT_CAPTURED).severity is Severity.INFO
    assert not [f for f in found if f.severity is Severity.ERROR]
