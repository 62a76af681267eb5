"""One exception tree for the whole tool.

`cli.py` is the only place that turns these into messages and exit codes; every other
module raises them (or, in the sans-IO core, reports problems as data instead).
"""

from __future__ import annotations


class FtptraceError(Exception):
    """Base of every error ftptrace raises on purpose."""


class ProtocolViolation(FtptraceError):
    """Bytes that are not valid FTP (RFC 959 / RFC 2428): the codec's only exception."""


class CaptureError(FtptraceError):
    """A capture file that cannot be read (wrong magic, truncated header, unknown format)."""


class LabError(FtptraceError):
    """A lab could not be built, run or torn down."""


class ProbeTimeout(FtptraceError):
    """A live probe got no answer within its bounded time."""


class PrivilegeError(FtptraceError):
    """An operation needs root (raw sockets, sniffing, namespaces)."""


class UsageError(FtptraceError):
    """The user asked for something that cannot be done as asked (bad address, bad range)."""
