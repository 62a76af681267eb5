"""Remedies that several findings give, kept once so every rule words them the same way.

A hint that belongs to one finding stays beside its rule; these three are the fixes for the
three configurations that break FTP through NAT most often (a server announcing its private
address, a passive range not forwarded, a NATed client announcing its private address).
"""

from __future__ import annotations

PASV_HINT = (
    "Announce the router's public address in PASV replies (vsftpd: pasv_address=PUBLIC_IP; "
    "proftpd: MasqueradeAddress; pure-ftpd: -P PUBLIC_IP; FileZilla Server: 'Use the "
    "following IP' under Passive mode settings), or use EPSV, which carries no address."
)
RANGE_HINT = (
    "Forward the whole passive range on the server's router (TCP, to the server's LAN "
    "address) and pin the server to it (vsftpd: pasv_min_port/pasv_max_port; proftpd: "
    "PassivePorts; pure-ftpd: -p MIN:MAX; FileZilla Server: custom port range)."
)
NAT_PORT_HINT = (
    "The client is behind NAT and announced its private address; nothing on the way "
    "rewrote it. Use passive mode, or attach the FTP helper on the client's router "
    "(iptables -t raw -A PREROUTING -p tcp --dport 21 -j CT --helper ftp, or the nft "
    "'ct helper' equivalent)."
)
