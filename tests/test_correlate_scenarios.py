"""Correlation on real captures of the lab's scenarios: every vantage point at once.

The same table of expectations is checked twice: on the capture sets shipped in captures/
(no root needed) and on captures the lab makes now (`lab` marker), so a change in the
kernel, vsftpd or curl that moves a packet shows up as a failing placement.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from ftptrace.correlate.verdict import FATE
from ftptrace.diagnose.findings import Code, Severity, Where
from ftptrace.replay import VANTAGES, Analysis, analyze

ROOT = Path(__file__).resolve().parent.parent / "captures"


@dataclass(frozen=True)
class Fails:
    """The first failing connection: kind, last capture that saw it, the next one, the box."""

    kind: str
    last_seen: str
    first_missing: str | None
    where: Where


FAILS = {
    "pasv-range-not-forwarded-drop": Fails("data", "server-router-wan", "server-router-lan",
                                           Where.SERVER_ROUTER),
    "pasv-range-not-forwarded-reject": Fails("data", "server-router-wan", "server-router-lan",
                                             Where.SERVER_ROUTER),
    "epsv-range-not-forwarded": Fails("data", "server-router-wan", "server-router-lan",
                                      Where.SERVER_ROUTER),
    "pasv-range-partly-forwarded": Fails("data", "server-router-wan", "server-router-lan",
                                         Where.SERVER_ROUTER),
    # The SYN to the leaked private address dies in the internet (ICMP net-unreachable);
    # the fault itself is the announcement (PASV_PRIVATE_ADDRESS at server-host).
    "pasv-private-address": Fails("data", "client-router-wan", "server-router-wan",
                                  Where.INTERNET),
    "port-client-behind-nat": Fails("data", "server-router-wan", "client-router-wan",
                                    Where.INTERNET),
    "port-server-outbound-blocked": Fails("data", "server-router-lan", "server-router-wan",
                                          Where.SERVER_ROUTER),
    "port-client-firewall": Fails("data", "client", None, Where.CLIENT_HOST),
    # The LAN client's SYN enters the router at its LAN side and the router answers it.
    "hairpin": Fails("attempt", "server-router-lan", "server", Where.SERVER_ROUTER),
    "loopback-server-localhost-only": Fails("attempt", "server", None, Where.SERVER_HOST),
    "lan-host-firewall": Fails("data", "server", None, Where.SERVER_HOST),
}
WORKS = ("pasv-ok", "port-ok", "epsv-ok", "lan-ok", "hairpin-nat-loopback", "ipv6-epsv",
         "ipv6-eprt", "port-client-behind-nat-with-helper", "pasv-helper-rewrites-227")
REWRITES = {
    "port-client-behind-nat-with-helper": (Where.CLIENT_ROUTER, "PORT 10,0,0,2,",
                                           "PORT 203,0,113,2,", 3),
    "pasv-helper-rewrites-227": (Where.SERVER_ROUTER, "(192,168,1,2,", "(198,51,100,2,", 1),
}
MISSED = {
    "port-client-behind-nat-illegal-port": Where.CLIENT_ROUTER,
    "port-client-behind-nat": Where.CLIENT_ROUTER,
    "pasv-private-address": Where.SERVER_ROUTER,
    "pasv-private-address-ignored": Where.SERVER_ROUTER,
    "ftps-explicit": Where.SERVER_ROUTER,  # the helper is blind to the TLS control channel
}
LIVE = ("pasv-range-not-forwarded-reject", "port-server-outbound-blocked", "hairpin",
        "lan-host-firewall", "pasv-private-address", "port-client-behind-nat-with-helper",
        "pasv-helper-rewrites-227", "port-client-behind-nat-illegal-port", "ftps-explicit")
"""Scenarios captured live in the lab test: every kind of placement, both helpers, TLS."""


def inputs(directory: Path) -> list[tuple[str | None, Path]]:
    return [(v, directory / f"{v}.pcap") for v in VANTAGES if (directory / f"{v}.pcap").exists()]


def check(name: str, a: Analysis) -> None:
    corr = a.correlation
    assert corr is not None, "several captures must be correlated"
    assert not a.unreadable
    assert len(a.trace.sessions) <= 1, "each session once, not once per capture"
    if name in FAILS:
        want = FAILS[name]
        bad = [c for c in corr.connections if not c.path.ok]
        assert bad, f"{name}: no failed connection in {corr.connections}"
        got = bad[0]
        assert (got.kind, got.path.last_seen, got.path.first_missing, got.path.where) == (
            want.kind, want.last_seen, want.first_missing, want.where), got.path.how
        errors = [f for f in a.findings if f.severity is Severity.ERROR]
        assert any(f.where is want.where and got.path.how in f.summary for f in errors), [
            (f.code, f.where, f.summary) for f in errors]
        # One verdict per failed connection, however many captures saw it fail.
        fates = [f for f in a.findings if f.code in FATE]
        assert len(fates) == len(bad), [(f.code, f.summary) for f in fates]
    if name in WORKS:
        assert corr.connections and all(c.path.ok for c in corr.connections), name
        assert not [f for f in a.findings if f.severity is Severity.ERROR]
    if name in REWRITES:
        where, before, after, shift = REWRITES[name]
        (f,) = [f for f in a.findings if f.code is Code.ALG_REWRITE]
        assert f.where is where and f.severity is Severity.INFO
        (r,) = corr.rewrites
        assert before in r.before_text and after in r.after_text
        assert r.shift == shift and r.shift_basis.startswith("measured")
        assert len(f.evidence) == 2 and f.evidence[0].capture != f.evidence[1].capture
    else:
        assert not [f for f in a.findings if f.code is Code.ALG_REWRITE], name
    if name in MISSED:
        (f,) = [f for f in a.findings if f.code is Code.ALG_MISSED]
        assert f.where is MISSED[name]
    if name == "ftps-explicit":
        (f,) = [f for f in a.findings if f.code is Code.CONTROL_ENCRYPTED]
        assert f.where is Where.SERVER_ROUTER
    assert not corr.order_inferred and [p.name for p in corr.points] == [
        v for v in VANTAGES if v in {p.name for p in corr.points}]


SHIPPED = sorted(set(FAILS) | set(WORKS) | set(REWRITES) | set(MISSED) | {"ftps-explicit"})


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_capture_sets(name: str) -> None:
    directory = ROOT / name
    if len(inputs(directory)) < 2:
        pytest.skip(f"captures/{name} is not shipped (regenerate: ftptrace lab run --all)")
    check(name, analyze(inputs(directory)))


def test_unlabelled_shipped_captures_find_their_own_order() -> None:
    directory = ROOT / "pasv-range-not-forwarded-drop"
    if len(inputs(directory)) < 6:
        pytest.skip("capture set not shipped")
    files = [p for _, p in inputs(directory)]
    a = analyze([(None, p) for p in reversed(files)])
    assert a.correlation is not None and a.correlation.order_inferred
    assert [p.name for p in a.correlation.points] == [p.name for p in files]
    (bad,) = [c for c in a.correlation.connections if not c.path.ok]
    assert bad.path.where is Where.SERVER_ROUTER


@pytest.fixture(scope="module")
def live(require_lab: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from ftptrace.lab.runner import LabRun
    from ftptrace.lab.shipped import run_many

    root = tmp_path_factory.mktemp("vantages")
    results = run_many(LIVE, capture_root=root, jobs=5)
    for name, r in results.items():
        assert isinstance(r, LabRun), f"{name}: {r}"
    return {name: root / name for name in LIVE}


@pytest.mark.lab
@pytest.mark.parametrize("name", LIVE)
def test_live_capture_at_every_vantage(live: dict[str, Path], name: str) -> None:
    check(name, analyze(inputs(live[name])))
