"""Bench the crafted and live probes in the lab (root): `python bench/bench_sweep.py`.

1. `ftptrace sweep` of a 1000-port range (50000-50999) against the partly-forwarded
   scenario (the router forwards 50000-50004 and rejects the rest): wall time, SYNs sent,
   and a check that no port is misclassified. Target: < 5 s at the default rate.
2. A full `ftptrace pasv` diagnosis (login, PASV, LIST, QUIT, packet tap, trace, rules)
   against a healthy lab server, run inside the client's namespace. Target: < 1 s.

Prints one line per measurement; exits 1 if a target is missed or a port misclassified.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from ftptrace.lab.runner import Lab

FTPTRACE = [sys.executable, "-c", "from ftptrace.cli import main; main()"]
RUNS = 5


def ftptrace(lab: Lab, *args: str) -> tuple[dict[str, object], float]:
    r = lab.exec(lab.client_host, [*FTPTRACE, *args, "--json"], timeout=60)
    if r.timed_out or r.returncode not in (0, 1):
        raise SystemExit(f"ftptrace {' '.join(args)} failed: {r.stderr[-500:]}")
    return json.loads(r.stdout), r.elapsed


def bench_sweep() -> bool:
    with Lab("pasv-range-partly-forwarded") as lab:
        walls, probes = [], []
        ok = True
        for _ in range(RUNS):
            doc, wall = ftptrace(lab, "sweep", lab.dial, "--ports", "50000-50999")
            sweep = doc["sweep"]
            assert isinstance(sweep, dict)
            walls.append(wall)
            probes.append(float(sweep["seconds"]))
            right = (sweep["forwarded"] == "50000-50004"
                     and sweep["not_forwarded"] == "50005-50999")
            ok = ok and right
        print(f"sweep 1000 ports: probe {statistics.median(probes):.2f}s median "
              f"(max {max(probes):.2f}s), process wall {statistics.median(walls):.2f}s, "
              f"{sweep['sent']} SYNs at {sweep['rate']}/s, classification "
              f"{'exact' if ok else 'WRONG'} in {RUNS} runs")
        return ok and max(walls) < 5.0


def bench_pasv() -> bool:
    with Lab("pasv-ok") as lab:
        walls, probes = [], []
        for _ in range(RUNS):
            doc, wall = ftptrace(lab, "pasv", lab.dial)
            probe = doc["probe"]
            assert isinstance(probe, dict)
            walls.append(wall)
            probes.append(float(probe["seconds"]))
        print(f"pasv diagnosis: probe {statistics.median(probes) * 1000:.0f} ms median "
              f"(max {max(probes) * 1000:.0f} ms), process wall "
              f"{statistics.median(walls):.2f}s median (max {max(walls):.2f}s, including "
              "interpreter start-up)")
        return max(walls) < 1.0


def main() -> int:
    t = time.monotonic()
    ok = bench_sweep()
    ok = bench_pasv() and ok
    print(f"total {time.monotonic() - t:.1f}s; targets {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
