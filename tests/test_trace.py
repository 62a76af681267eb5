"""TraceBuilder: announced channels joined with the connections actually seen."""

from __future__ import annotations

from ftptrace.model import Outcome

from wire import Ftp, Wire, ep

CLIENT = "203.0.113.10:40000"
SERVER = "198.51.100.2:21"


def client_side_wire() -> Wire:
    # Captured on the client: the server is 4 hops away, its router 3.
    return Wire(hops={"203.0.113.10": 0, "198.51.100.2": 4})


def test_pasv_list_established_and_bytes_counted() -> None:
    w = client_side_wire()
    ftp = Ftp(w, CLIENT, SERVER)
    ftp.login()
    ftp.cmd("PASV", "227 Entering Passive Mode (198,51,100,2,195,80).")
    data = w.connect(ep("203.0.113.10:40001"), ep("198.51.100.2:50000"))
    ftp.cmd("LIST", "150 Here comes the directory listing.")
    w.b_says(data, b"-rw-r--r-- 1 0 0 10 test.txt\r\n")
    w.b_says(data, b"-rw-r--r-- 1 0 0 10 test.txt\r\n")  # counted once per sequence byte
    w.close(data)
    ftp.reply("226 Directory send OK.")
    ftp.quit()
    trace = w.trace()
    (s,) = trace.sessions
    assert s.user == "anonymous" and s.login_ok is True
    assert [c.verb for c in s.commands] == ["USER", "PASS", "PASV", "LIST", "QUIT"]
    pass_cmd = s.commands[1]
    assert pass_cmd.arg == "****"
    (ch,) = s.data_channels
    assert ch.via == "PASV" and ch.passive
    assert (ch.announced_ip, ch.announced_port) == ("198.51.100.2", 50000)
    assert ch.outcome is Outcome.ESTABLISHED and not ch.inferred
    assert ch.matched_by == "endpoint"
    assert ch.command is not None and ch.command.text == "LIST"
    assert ch.command.reply is not None and ch.command.reply.code == 226
    assert ch.bytes == 60


def test_client_ignoring_227_address_is_matched_by_port() -> None:
    w = client_side_wire()
    ftp = Ftp(w, CLIENT, SERVER)
    ftp.login()
    ftp.cmd("PASV", "227 Entering Passive Mode (192,168,1,2,195,80).")
    w.connect(ep("203.0.113.10:40001"), ep("198.51.100.2:50000"))
    ftp.cmd("LIST", "150 ok", "226 ok")
    (ch,) = w.trace().sessions[0].data_channels
    assert ch.matched_by == "port"
    assert ch.outcome is Outcome.ESTABLISHED
    assert ch.expected.resp_ip == "192.168.1.2"


def test_unanswered_refused_and_unreachable_data_syns() -> None:
    w = client_side_wire()
    ftp = Ftp(w, CLIENT, SERVER)
    ftp.login()
    ftp.cmd("PASV", "227 Entering Passive Mode (198,51,100,2,195,80).")
    w.syn(ep("203.0.113.10:40001"), ep("198.51.100.2:50000"), count=4)
    ftp.cmd("PASV", "227 Entering Passive Mode (198,51,100,2,195,81).")
    w.syn(ep("203.0.113.10:40002"), ep("198.51.100.2:50001"))
    w.rst(ep("198.51.100.2:50001"), ep("203.0.113.10:40002"), ttl=61)
    ftp.cmd("PASV", "227 Entering Passive Mode (192,168,1,2,195,82).")
    w.syn(ep("203.0.113.10:40003"), ep("192.168.1.2:50002"))
    w.icmp("203.0.113.1", ep("203.0.113.10:40003"), ep("192.168.1.2:50002"))
    trace = w.trace()
    a, b, c = trace.sessions[0].data_channels
    assert a.outcome is Outcome.UNANSWERED and a.connection and a.connection.syn_count == 4
    assert b.outcome is Outcome.REFUSED
    assert b.connection and b.connection.rst and b.connection.rst.from_peer is False
    assert c.outcome is Outcome.UNREACHABLE
    assert c.connection and c.connection.icmp and c.connection.icmp.sender == "203.0.113.1"


def test_rst_from_the_server_itself_is_from_peer() -> None:
    w = client_side_wire()
    ftp = Ftp(w, CLIENT, SERVER)
    ftp.cmd("PASV", "227 Entering Passive Mode (198,51,100,2,195,80).")
    w.syn(ep("203.0.113.10:40001"), ep("198.51.100.2:50000"))
    w.rst(ep("198.51.100.2:50000"), ep("203.0.113.10:40001"))  # TTL 60, same as the server
    (ch,) = w.trace().sessions[0].data_channels
    assert ch.connection and ch.connection.rst and ch.connection.rst.from_peer is True


def test_port_rejected_is_not_attempted() -> None:
    w = client_side_wire()
    ftp = Ftp(w, "10.0.0.2:40000", SERVER)
    ftp.login()
    ftp.cmd("PORT 10,0,0,2,156,64", "500 Illegal PORT command.")
    (ch,) = w.trace().sessions[0].data_channels
    assert ch.via == "PORT" and not ch.passive
    assert ch.outcome is Outcome.NOT_ATTEMPTED
    assert ch.announce_reply is not None and ch.announce_reply.code == 500


def test_active_connection_from_server_and_425_without_packets() -> None:
    w = client_side_wire()
    ftp = Ftp(w, CLIENT, SERVER)
    ftp.login()
    ftp.cmd("PORT 203,0,113,10,156,64", "200 PORT command successful.")
    w.connect(ep("198.51.100.2:20"), ep("203.0.113.10:40000"))
    ftp.cmd("RETR test.txt", "150 Opening", "226 Transfer complete.")
    ftp.cmd("EPRT |1|203.0.113.10|40001|", "200 EPRT command successful.")
    ftp.cmd("LIST", "425 Failed to establish connection.")
    first, second = w.trace().sessions[0].data_channels
    assert first.outcome is Outcome.ESTABLISHED
    assert first.connection and first.connection.orig == ep("198.51.100.2:20")
    assert second.via == "EPRT" and second.outcome is Outcome.FAILED


def test_replies_prove_a_transfer_the_capture_does_not_hold() -> None:
    w = client_side_wire()
    ftp = Ftp(w, CLIENT, SERVER)
    ftp.cmd("EPSV", "229 Entering Extended Passive Mode (|||50000|)")
    ftp.cmd("RETR test.jpg", "150 Opening BINARY mode", "226 Transfer complete.")
    (ch,) = w.trace().sessions[0].data_channels
    assert ch.outcome is Outcome.ESTABLISHED and ch.inferred
    assert ch.expected.resp_ip == "198.51.100.2"  # EPSV: the control peer (RFC 2428 §3)


def test_out_of_order_and_retransmitted_control_segments() -> None:
    w = client_side_wire()
    f = w.connect(ep(CLIENT), ep(SERVER))
    w.b_says(f, b"220 hi\r\n")
    start = f.seq_a
    w.seg(f.a, f.b, 0x18, start + 8, payload=b"NYMOUS\r\nPASV\r\n")  # arrives first
    w.seg(f.a, f.b, 0x18, start, payload=b"USER ANONY")  # overlaps the previous one
    w.seg(f.a, f.b, 0x18, start, payload=b"USER ANONY")  # retransmission
    f.seq_a = start + 22
    w.b_says(f, b"331 ok\r\n227 Entering Passive Mode (198,51,100,2,195,80)\r\n")
    (s,) = w.trace().sessions
    assert [(c.verb, c.arg) for c in s.commands] == [("USER", "ANONYMOUS"), ("PASV", None)]
    assert s.data_channels[0].announced_port == 50000


def test_control_refused_becomes_a_control_attempt() -> None:
    w = client_side_wire()
    w.syn(ep(CLIENT), ep(SERVER))
    w.rst(ep(SERVER), ep(CLIENT))
    trace = w.trace()
    assert trace.sessions == ()
    (attempt,) = trace.control_attempts
    assert attempt.outcome is Outcome.REFUSED


def test_greeting_on_a_non_standard_port_is_found_mid_stream() -> None:
    w = client_side_wire()
    f = w.connect(ep(CLIENT), ep("198.51.100.2:2121"))
    w.packets.clear()  # the capture starts after the handshake
    w.b_says(f, b"220 FTP on 2121\r\n")
    w.a_says(f, b"USER bob\r\n")
    w.b_says(f, b"331 ok\r\n")
    (s,) = w.trace().sessions
    assert s.server == ep("198.51.100.2:2121")
    assert s.user == "bob"


def test_tls_makes_the_session_opaque() -> None:
    w = client_side_wire()
    ftp = Ftp(w, CLIENT, SERVER)
    ftp.cmd("AUTH TLS", "234 Proceed with negotiation.")
    w.a_says(ftp.f, b"\x16\x03\x01\x00\x05hello")
    (s,) = w.trace().sessions
    assert s.tls
    assert [c.verb for c in s.commands] == ["AUTH"]
