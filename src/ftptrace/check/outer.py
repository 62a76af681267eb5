"""The steps beyond the server and its LAN: the global address, an upload, the host name
(dynamic DNS), and the global address tried from inside the LAN (hairpin)."""

from __future__ import annotations

import secrets
import time

from ftptrace.check import dns
from ftptrace.check.probes import delete, finding_lines
from ftptrace.check.state import Run, credentials_for, ep, failure_summary
from ftptrace.check.steps import Status
from ftptrace.diagnose.addresses import is_internal

TTL_LOW = 60
"""Seconds; below this many resolvers raise the TTL anyway and every lookup costs a query."""
TTL_HIGH = 3600
"""Seconds; above this an old address stays cached too long after a dynamic-IP change."""


def public(run: Run) -> None:
    """Known (given, or the address checked from outside), else learned from a 227 reply
    naming a public address (the server's own idea of it: pasv_address)."""
    announced = [ch.announced_ip for r in run.readings for s in r.result.analysis.trace.sessions
                 for ch in s.data_channels if ch.passive and ch.announced_ip]
    public = [a for a in announced if not is_internal(a)]
    warnings: tuple[str, ...] = ()
    if run.public is None and public:
        run.public, run.public_from = public[0], "announced by the server in its 227 reply"
    if run.public is not None and public and public[0] != run.public:
        warnings = (f"the server announces {public[0]} in its 227 replies, not {run.public}: "
                    "an old pasv_address after an address change?",)
    if run.public is None:
        run.skip("public-address", "unknown: give --public-ip (look it up from outside, not "
                 "through a proxy)")
        return
    run.ok("public-address", f"{run.public} ({run.public_from})", target=run.public,
           warnings=warnings)


def upload(run: Run) -> None:
    if not run.opts.upload:
        run.skip("upload", "not asked for (--upload)")
        return
    if run.blocked:
        run.skip("upload", run.blocked)
        return
    modes = [m for m, s in (("pasv", "pasv-list"), ("port", "port-list"))
             if run.results.get(s) is not None and run.results[s].status is Status.PASS]
    if not modes:
        run.skip("upload", "no data connection works in either mode")
        return
    name = f"ftptrace-check-{secrets.token_hex(4)}.txt"
    path = f"{run.opts.upload_dir.rstrip('/')}/{name}" if run.opts.upload_dir else name
    r = run.probe(run.ip, modes[0], ("STOR", path))
    target = ep(run.ip, run.port)
    if not r.data:
        run.fail("upload", f"STOR {path}: {failure_summary(r)}", r.kinds | {"denied"},
                 seconds=sum(r.times), target=target, evidence=r.data_lines,
                 findings=r.findings)
        return
    creds = credentials_for(run.opts, run.ip, run.port)
    deleted, lines = delete(run.net, run.ip, run.port, creds, path, run.opts.timeout)
    warnings = () if deleted else (f"uploaded {path} but could not delete it: remove it by "
                                   "hand",)
    run.ok("upload", f"STOR {path} via {modes[0].upper()}" + (" and DELE" if deleted else ""),
           seconds=sum(r.times), target=target, evidence=r.data_lines + lines,
           warnings=warnings)


def hostname(run: Run, name: str | None, resolver: dns.Resolver) -> None:
    if name is None:
        run.skip("hostname", "no host name given (--hostname NAME)")
        return
    t0 = time.monotonic()
    res = resolver(name, run.opts.timeout)
    took = time.monotonic() - t0
    evidence = [f"{name} → {', '.join(res.addresses) or 'nothing'} ({res.source}"
                + (f", TTL {res.ttl}s)" if res.ttl is not None else ")")]
    if not res.addresses:
        run.fail("hostname", f"{name} does not resolve" + (f": {res.error}" if res.error
                                                           else ""), {"nxdomain"},
                 seconds=took, evidence=evidence)
        return
    warnings: list[str] = []
    if res.ttl is not None and res.ttl < TTL_LOW:
        warnings.append(f"TTL {res.ttl}s is very low: resolvers may ignore it, and every "
                        "lookup goes to the DNS provider")
    if res.ttl is not None and res.ttl > TTL_HIGH:
        warnings.append(f"TTL {res.ttl}s is high for a dynamic address: after a change the "
                        f"old address stays cached for up to {res.ttl // 60} minutes")
    if run.public is None:
        warnings.append("the global address is unknown (--public-ip): cannot tell whether the "
                        "record is current")
        run.ok("hostname", f"{name} resolves to {', '.join(res.addresses)}", seconds=took,
               evidence=evidence, warnings=tuple(warnings))
        return
    if run.public not in res.addresses:
        run.fail("hostname", f"{name} points at {', '.join(res.addresses)}, but the global "
                 f"address is {run.public}: the record is stale", {"stale"} | (
                     {"ttl"} if warnings else set()), seconds=took, evidence=evidence,
                 warnings=tuple(warnings))
        return
    run.ok("hostname", f"{name} resolves to {run.public}, the global address", seconds=took,
           evidence=evidence, warnings=tuple(warnings))


def hairpin(run: Run) -> None:
    if run.standing == "internet":
        run.skip("hairpin", "only meaningful from inside the server's LAN")
        return
    if run.blocked:
        run.skip("hairpin", run.blocked)
        return
    if run.public is None or run.public == run.ip:
        run.skip("hairpin", "the global address is unknown (--public-ip)")
        return
    r = run.probe(run.public, "pasv", ("LIST", None))
    target = ep(run.public, run.port)
    if r.control and r.login and r.data:
        run.ok("hairpin", f"the router loops {target} back to the server", seconds=sum(r.times),
               target=target, evidence=r.data_lines)
        return
    what = "no control connection" if not r.control else failure_summary(r)
    run.fail("hairpin", f"{target} from inside the LAN: {what}", r.kinds, seconds=sum(r.times),
             target=target, evidence=r.control_lines + r.data_lines + finding_lines(r.errors),
             findings=r.findings)
