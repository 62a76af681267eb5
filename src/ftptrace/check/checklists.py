"""What to look at when a step fails: the field guide's tables E1–E6, rewritten.

The guide's tables list what a person should check by hand; here each item says what the
failure looks like on the wire and the concrete setting to change, and carries the kinds of
failure it explains, so a refused connection lists forwarding and listening first and a
silent one lists firewalls first. Items with no kinds always apply to their step.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Item:
    text: str
    kinds: frozenset[str] = frozenset()


def _i(text: str, *kinds: str) -> Item:
    return Item(text, frozenset(kinds))


E1 = (  # loopback, on the server itself
    _i("Nothing listens on the control port: start the server (systemctl status vsftpd; "
       "journalctl -u vsftpd) and check `ss -ltnp | grep :21`.", "refused"),
    _i("The server listens on one address only (vsftpd listen_address=, proftpd "
       "DefaultAddress, or an IPv6-only socket with listen_ipv6=YES): 127.0.0.1 must be "
       "among them for this step.", "refused"),
    _i("A local firewall rule on `lo` (rare, but iptables -S INPUT / nft list ruleset show "
       "it).", "timeout"),
    _i("Login settings: anonymous_enable / local_enable, the user's shell listed in "
       "/etc/shells, PAM (vsftpd: pam_service_name); '500 OOPS' replies name the setting.",
       "login"),
    _i("The FTP root: vsftpd refuses a writable chroot/anon_root ('500 OOPS: vsftpd: refusing "
       "to run with writable root inside chroot()'); the test file must be readable.",
       "login", "transfer"),
    _i("Passive ports on the server itself: pasv_min_port/pasv_max_port must be free and "
       "allowed by the local firewall.", "data-refused", "data-timeout"),
)

E2 = (  # LAN
    _i("The server's host firewall: allow TCP 21 *and* the passive range from the LAN "
       "(iptables -S INPUT, nft list ruleset, ufw status, firewall-cmd --list-all).",
       "timeout", "data-timeout"),
    _i("The server listens only on 127.0.0.1 or on another address (vsftpd listen_address=; "
       "`ss -ltn`): it must listen on its LAN address or on all.", "refused"),
    _i("Wrong address: the server's LAN address may have changed (DHCP) — `ip addr` on the "
       "server; give it a fixed address or a DHCP reservation.", "unreachable", "timeout"),
    _i("LAN trouble: Wi-Fi client isolation (AP isolation) keeps wireless clients from "
       "reaching wired hosts; cable, switch, VLAN.", "unreachable", "timeout"),
    _i("Passive data connections need the whole pasv_min_port–pasv_max_port range open in "
       "the host firewall, not just 21 (conntrack's FTP helper can open it as RELATED).",
       "data-timeout", "data-refused"),
    _i("Active mode: the client's own firewall must accept the server's connection to the "
       "port it announced in PORT/EPRT.", "not-accepted", "data-timeout"),
    _i("Login settings (see the loopback step): anonymous_enable, local_enable, "
       "/etc/shells, chroot.", "login"),
)

E3 = (  # control port 21 from the internet
    _i("The router does not forward TCP 21 to the server's LAN address (port forwarding / "
       "virtual server / NAT rule): a reset from the router, or silence.", "refused",
       "timeout"),
    _i("Something on the router itself owns port 21 (its own FTP or USB-storage service): "
       "the banner is not your server's.", "banner"),
    _i("The server's firewall accepts 21 from the LAN only (a source-address restriction).",
       "timeout"),
    _i("The ISP blocks inbound 21: forward another external port (e.g. 2121) to the "
       "server's 21 and test that.", "timeout"),
    _i("The router's WAN address is not public: 100.64.0.0/10 (CGNAT, RFC 6598) or a private "
       "address means a second NAT upstream; no forwarding on your router can help — ask "
       "the ISP for a public address.", "unreachable", "timeout"),
    _i("Wrong global address: look it up again from outside (it changes with dynamic IP).",
       "unreachable"),
)

E5 = (  # data connections through the router
    _i("Passive mode: forward the whole passive range (TCP, to the server's LAN address) and "
       "make it identical to the server's (vsftpd pasv_min_port/pasv_max_port; proftpd "
       "PassivePorts; pure-ftpd -p).", "data-refused", "data-timeout"),
    _i("Passive mode: the server must announce the global address in 227 (vsftpd "
       "pasv_address=, proftpd MasqueradeAddress, pure-ftpd -P); a private address in the "
       "reply breaks every client that trusts it.", "private-address", "data-unreachable"),
    _i("Some routers' FTP helper (ALG) rewrites 227 and opens ports itself — it cannot under "
       "FTPS (AUTH TLS); do not depend on it.", "private-address", "data-timeout"),
    _i("Active (PORT) mode: the server connects out from port 20 (or an ephemeral port): its "
       "router and firewall must let that out; the client's side must accept it (client NAT "
       "needs an FTP helper, or use passive).", "not-accepted", "port-rejected"),
    _i("'500 Illegal PORT command': the client sits behind NAT and its router did not "
       "rewrite PORT; use passive mode, or the helper on the client's router.",
       "port-rejected"),
    _i("Per the field guide: keep the server download-only and prefer passive mode; open "
       "port 20 and active mode only for clients that cannot do passive."),
)

E6 = (  # the host name (dynamic DNS)
    _i("The name does not exist: check the spelling and that the dynamic-DNS account is "
       "active.", "nxdomain"),
    _i("The record points at an old address: the update client (ddclient, inadyn, the "
       "router's DDNS page) did not run after the last address change; check its log and "
       "credentials.", "stale"),
    _i("Caches: after an update, resolvers keep the old answer up to the old TTL; flush the "
       "local cache (resolvectl flush-caches) and test from outside.", "stale", "ttl"),
    _i("A very low TTL is often raised by resolvers anyway; a very high one keeps the world "
       "on an old address long after a change: dynamic DNS wants a few minutes.", "ttl"),
)

HAIRPIN = (
    _i("The router does not loop LAN traffic addressed to its WAN address back in (no 'NAT "
       "loopback' / 'hairpin NAT'): enable it if the router has it, or use the LAN address "
       "(or split DNS) inside the LAN; test the global address from outside instead.",
       "refused", "timeout"),
    _i("With NAT loopback the router must also translate the source (SNAT), or the server's "
       "answers go straight back to the client, which drops them.", "timeout"),
)

UPLOAD = (
    _i("Uploads need write permission: vsftpd write_enable=YES (and anon_upload_enable, "
       "anon_other_write_enable for anonymous), a directory the FTP user may write, free "
       "disk and quota.", "denied"),
    _i("The field guide advises a download-only server: refusing uploads may be exactly "
       "what you want.", "denied"),
)

TABLES: dict[str, tuple[Item, ...]] = {
    "E1": E1, "E2": E2, "E3": E3, "E5": E5, "E6": E6, "hairpin": HAIRPIN, "upload": UPLOAD,
}


def checklist(table: str, kinds: set[str]) -> list[str]:
    """The items of `table` for these failure kinds: the specific ones first."""
    items = TABLES.get(table, ())
    specific = [i.text for i in items if i.kinds & kinds]
    general = [i.text for i in items if not i.kinds]
    rest = [i.text for i in items if i.kinds and not i.kinds & kinds]
    return specific + general if specific else general + rest
