"""The vantage points a capture can be labelled with, in path order (client side first).

A vantage names where a capture sits on the path, so captures of the same traffic from
several places can be lined up and a failure placed between two of them (issue 6: a packet
seen at `server-router-wan` but not at `server-router-lan` died in the server router). The
lab captures at exactly these points, and `ftptrace replay LABEL=FILE` places captures
labelled with them on the path. A constants module with nothing heavy to import, so the
engine, the lab and the command line's start-up can all use it.
"""

from __future__ import annotations

import os
from pathlib import Path

VANTAGES = (
    "client",
    "client-router-lan",
    "client-router-wan",
    "server-router-wan",
    "server-router-lan",
    "server",
)
"""- `client`: on the client host itself: what it sent and got back, before any NAT.
- `client-router-lan`: the client's router, LAN side: the client's packets as sent (private
  addresses), before the router translated them.
- `client-router-wan`: the client's router, WAN side: after its source NAT and FTP helper,
  the client as the internet sees it.
- `server-router-wan`: the server's router, WAN side: what arrived from the internet,
  before its port forwarding (destination NAT) and FTP helper.
- `server-router-lan`: the server's router, LAN side: after port forwarding, on the way to
  the server.
- `server`: on the server host itself (the lab's one-host topology captures only here).
"""

POSITIONS: dict[str, float] = {
    "client": 0.0,
    "client-router-lan": 0.5,
    "client-router-wan": 1.5,
    "internet": 2.0,
    "server-router-wan": 2.5,
    "server-router-lan": 3.5,
    "server": 4.0,
}
"""Where each vantage sits on the path: the boxes (client host 0, client router 1, internet
2, server router 3, server host 4) at whole numbers, the capture points between them, so a
packet missing between two captures died in the box between their positions."""


def parse_input(arg: str) -> tuple[str | None, Path]:
    """`LABEL=FILE` or `FILE` (a file whose name contains '=' still works if it exists)."""
    if "=" in arg and not os.path.exists(arg):
        label, _, path = arg.partition("=")
        return label, Path(path)
    return None, Path(arg)
