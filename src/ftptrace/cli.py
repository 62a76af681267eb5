"""The typer application: one use case per command.

This is the only module that parses arguments, prints errors and picks exit codes; every
use case below is a thin call into the library. Exceptions from `ftptrace.errors` become
one-line messages and `ExitStatus` codes here and nowhere else.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer

from ftptrace import __version__
from ftptrace.errors import FtptraceError, PrivilegeError, UsageError
from ftptrace.exitcodes import ExitStatus

app = typer.Typer(
    name="ftptrace",
    help="Show exactly where FTP breaks on its way through NAT routers and firewalls.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
lab_app = typer.Typer(help="Real NAT labs in network namespaces: every failure mode on demand.",
                      no_args_is_help=True)
app.add_typer(lab_app, name="lab")

T = TypeVar("T")


def _fail(message: str, status: ExitStatus = ExitStatus.USAGE) -> typer.Exit:
    typer.echo(f"ftptrace: {message}", err=True)
    return typer.Exit(int(status))


def run_use_case(fn: Callable[[], T]) -> T:
    """Run one use case, turning our exceptions into a message and an exit status."""
    try:
        return fn()
    except KeyboardInterrupt:
        raise _fail("interrupted", ExitStatus.INTERRUPTED) from None
    except PrivilegeError as exc:
        raise _fail(str(exc)) from None
    except UsageError as exc:
        raise _fail(str(exc)) from None
    except FtptraceError as exc:
        raise _fail(str(exc)) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ftptrace {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """ftptrace: FTP through NAT, with packets."""


# --- replay (issue 2) -------------------------------------------------------------------


# --- diagram (issue 5) ------------------------------------------------------------------


# --- live probes (issue 4) --------------------------------------------------------------


# --- check / watch (issue 6) ------------------------------------------------------------


# --- lab (issue 3) ----------------------------------------------------------------------


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("ftptrace: interrupted", err=True)
        sys.exit(int(ExitStatus.INTERRUPTED))
