"""Running many scenarios (in parallel) and writing the shipped capture sets.

`captures/<scenario>/<vantage>.pcap` plus `scenario.json` (what the scenario declares and what
the real client did) is the layout `ftptrace lab run --all --capture captures/` regenerates.
Parallel runs are safe because every lab has its own namespace prefix; they are worth it
because most failing scenarios spend their time waiting for a bounded timeout.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ftptrace.errors import FtptraceError
from ftptrace.lab.capture import vantages
from ftptrace.lab.runner import LabRun, run_scenario, sigterm_as_interrupt
from ftptrace.lab.scenarios import Scenario, get

SCHEMA = "ftptrace.lab.scenario/1"


def expectation_dict(sc: Scenario) -> dict[str, Any]:
    e = sc.expect
    return {
        "client_succeeds": e.client_succeeds,
        "data": e.data.value,
        "control": e.control.value,
        "codes": [c.value for c in e.codes],
        "where": e.where.value if e.where is not None else None,
    }


def scenario_dict(sc: Scenario) -> dict[str, Any]:
    """The scenario's declaration, JSON-ready (stable key order, no timestamps)."""
    return {
        "name": sc.name,
        "wrong": sc.wrong,
        "symptom": sc.symptom,
        "guide": sc.guide,
        "client_site": sc.site.value,
        "client": sc.client.value,
        "mode": sc.mode.value,
        "ipv6": sc.ipv6,
        "dial": sc.dial,
        "trust_pasv": sc.trust_pasv,
        "tls": sc.tls,
        "vantages": {v.name: f"{v.host.value}:{v.iface}" for v in vantages(sc.site)},
        "expect": expectation_dict(sc),
    }


def write_scenario_json(run: LabRun, out_dir: Path) -> Path:
    data = {
        "schema": SCHEMA,
        **scenario_dict(run.scenario),
        "measured": {
            "client": run.client.value,
            "mode": run.mode.value,
            "server": run.server,
            "client_succeeded": run.succeeded,
            "exit_code": run.result.returncode,
            "as_expected": run.as_expected,
        },
        "captures": {name: p.name for name, p in sorted(run.captures.items())},
    }
    path = out_dir / "scenario.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def run_many(
    names: Iterable[str],
    *,
    capture_root: Path | None = None,
    jobs: int = 4,
    server: str | None = None,
    on_done: Callable[[str, LabRun | None, FtptraceError | None], None] | None = None,
) -> dict[str, LabRun | FtptraceError]:
    """Run scenarios `jobs` at a time; each with its own prefix, captures and teardown.

    A scenario that cannot be built is reported as its error, not raised: one broken
    scenario must not hide the results of the others. Ctrl-C stops new scenarios from
    starting; the running ones end within their bounded client timeout and tear down.
    """
    scenarios = [get(n) for n in names]
    stop = threading.Event()
    results: dict[str, LabRun | FtptraceError] = {}

    def one(sc: Scenario) -> None:
        if stop.is_set():
            return
        out = capture_root / sc.name if capture_root is not None else None
        try:
            run = run_scenario(sc, capture_dir=out, server=server)
        except FtptraceError as exc:
            results[sc.name] = exc
            if on_done is not None:
                on_done(sc.name, None, exc)
            return
        if out is not None:
            write_scenario_json(run, out)
        results[sc.name] = run
        if on_done is not None:
            on_done(sc.name, run, None)

    with sigterm_as_interrupt():
        pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="lab")
        futures: list[Future[None]] = [pool.submit(one, sc) for sc in scenarios]
        try:
            for f in futures:
                f.result()
        except BaseException:
            stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return {sc.name: results[sc.name] for sc in scenarios if sc.name in results}
