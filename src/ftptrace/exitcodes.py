"""Exit statuses, in one place (compare httpie's ExitStatus)."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    """No error finding."""
    FINDINGS = 1
    """At least one error finding (or a failed check step)."""
    USAGE = 2
    """Bad usage, unreadable input, or a privilege the command cannot do without."""
    INTERRUPTED = 130
    """Ctrl-C."""
