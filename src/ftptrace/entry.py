"""The console entry point: `ftptrace replay --json CAPTURE` without loading the CLI framework.

Why: importing typer costs about 0.2 s (it imports pydantic), a third of the start-up of
a replay. A script or a support desk's pipeline that turns captures into JSON one at a time
pays it on every file, and on a large capture it is a few percent of the whole run
(bench/README.md). That one form — exactly `replay --json CAPTURE`, in either order — is
run here as `cli.replay` runs it: the same streaming use case, output, messages and exit
statuses (tests/test_entry.py runs both and compares). Every other command line, help and
errors in arguments included, goes to the typer application in `cli`.
"""

from __future__ import annotations

import errno
import os
import sys

from ftptrace.errors import FtptraceError
from ftptrace.exitcodes import ExitStatus


def quick_replay_target(argv: list[str]) -> str | None:
    """The CAPTURE of `replay --json CAPTURE` (or `replay CAPTURE --json`), else None."""
    if len(argv) != 3 or argv[0] != "replay" or "--json" not in argv[1:]:
        return None
    (capture,) = [a for a in argv[1:] if a != "--json"] or [""]
    if not capture or capture.startswith("-"):
        return None
    return capture


def quick_replay(capture: str) -> int:
    """`cli.replay` for one capture as JSON: stream it; the exit status.

    The capture is opened before the analysis is imported: a large one starts its indexing
    helper process (`net.indexer`, an interpreter and numpy to load) right away, and the
    helper's start-up then overlaps this process's imports instead of following them."""
    from ftptrace.net.pcap import open_capture
    from ftptrace.vantages import parse_input

    vantage, path = parse_input(capture)
    try:
        reader = open_capture(path, start_helper=True)
        try:
            from ftptrace.stream import stream_json
        except BaseException:
            reader.close()
            raise
        errors = stream_json(path, sys.stdout, vantage=vantage, reader=reader)
        sys.stdout.flush()
    except KeyboardInterrupt:
        return _fail("interrupted", ExitStatus.INTERRUPTED)
    except FtptraceError as exc:
        return _fail(str(exc), ExitStatus.USAGE)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        # The reader of our output went away (`| head`): exit 1 quietly, as click does;
        # stdout now points nowhere so the interpreter's last flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return int(ExitStatus.FINDINGS if errors else ExitStatus.OK)


def _fail(message: str, status: ExitStatus) -> int:
    print(f"ftptrace: {message}", file=sys.stderr)
    return int(status)


def main() -> None:
    """Console entry point (`ftptrace`)."""
    capture = quick_replay_target(sys.argv[1:])
    if capture is None:
        from ftptrace.cli import main as cli_main

        cli_main()
        return
    sys.exit(quick_replay(capture))
