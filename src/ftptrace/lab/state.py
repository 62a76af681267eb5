"""Which labs exist, across invocations: one JSON file per lab in /run/ftptrace/labs/.

Every lab writes its file *before* it creates its first namespace and removes it after its
last one is gone, with the pid of the process that owns it. `lab down` can then tell a lab
that is alive (a running test or `lab run`, left alone), a lab brought up by `lab up` (its
owner has exited by design), and the leftovers of a crashed run (namespaces with the
`ftNNNN-` prefix and no live owner), and remove exactly what is safe to remove.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ftptrace.lab import netns

STATE_DIR = Path(os.environ.get("FTPTRACE_LAB_STATE", "/run/ftptrace/labs"))


@dataclass(slots=True, kw_only=True)
class LabState:
    prefix: str
    scenario: str
    owner_pid: int
    persistent: bool = False
    """Brought up by `lab up`: outlives its owner until `lab down`."""
    workdir: str = ""
    server: str = ""
    server_pid: int | None = None
    dial: str = ""
    namespaces: dict[str, str] = field(default_factory=dict)
    created: float = 0.0

    @property
    def path(self) -> Path:
        return STATE_DIR / f"{self.prefix.rstrip('-')}.json"

    def save(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    @property
    def owner_alive(self) -> bool:
        return pid_alive(self.owner_pid)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load_all() -> list[LabState]:
    """Every recorded lab (unreadable files are skipped: they cannot name a prefix)."""
    out: list[LabState] = []
    if not STATE_DIR.is_dir():
        return out
    for path in sorted(STATE_DIR.glob("ft*.json")):
        try:
            data = json.loads(path.read_text())
            out.append(LabState(**data))
        except (OSError, ValueError, TypeError):
            continue
    return out


def active() -> list[LabState]:
    """Labs whose namespaces still exist."""
    present = set(netns.lab_namespaces())
    return [s for s in load_all() if any(ns in present for ns in s.namespaces.values())]


def find(prefix: str | None) -> LabState:
    """The lab a command means: the one named, or the only one that is up."""
    from ftptrace.errors import UsageError

    labs = active()
    if prefix is not None:
        want = prefix if prefix.endswith("-") else prefix + "-"
        for s in labs:
            if s.prefix == want:
                return s
        raise UsageError(f"no lab {prefix!r} is up (see `ftptrace lab status`)")
    if not labs:
        raise UsageError("no lab is up (start one with `ftptrace lab up SCENARIO`)")
    if len(labs) > 1:
        names = ", ".join(f"{s.prefix.rstrip('-')} ({s.scenario})" for s in labs)
        raise UsageError(f"several labs are up: {names}; pick one with --lab")
    return labs[0]


def remove_lab(s: LabState) -> list[str]:
    """Tear one recorded lab down completely: processes, namespaces, workdir, state file."""
    removed = netns.teardown(s.prefix)
    if s.workdir and Path(s.workdir).name.startswith("ftptrace-lab-"):
        shutil.rmtree(s.workdir, ignore_errors=True)
    s.remove()
    return removed


def down(prefix: str | None = None, *, force: bool = False) -> list[str]:
    """Remove labs: one by prefix, or every `lab up` lab plus every orphan.

    A lab whose owner process is still running (a test, a `lab run`) is left alone unless
    `force`: parallel labs must never pull each other's namespaces away.
    """
    removed: list[str] = []
    states = load_all()
    owned: set[str] = set()
    for s in states:
        if prefix is not None and s.prefix.rstrip("-") != prefix.rstrip("-"):
            owned.add(s.prefix)
            continue
        if prefix is None and not force and not s.persistent and s.owner_alive:
            owned.add(s.prefix)
            continue
        removed += remove_lab(s)
    if prefix is not None:
        removed += netns.teardown(prefix.rstrip("-") + "-")
    else:
        # Leftovers of crashed runs: lab-prefixed namespaces that no live lab claims.
        for ns in netns.lab_namespaces():
            if ns[:7] not in owned:
                netns.kill_netns_processes(ns)
                netns.run(["ip", "netns", "del", ns], check=False)
                removed.append(ns)
    return removed
