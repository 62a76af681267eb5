"""The typer application: one use case per command.

This is the only module that parses arguments, prints errors and picks exit codes; every
use case below is a thin call into the library. Exceptions from `ftptrace.errors` become
one-line messages and `ExitStatus` codes here and nowhere else.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from ftptrace import __version__
from ftptrace.errors import FtptraceError, PrivilegeError, UsageError
from ftptrace.exitcodes import ExitStatus

if TYPE_CHECKING:
    from ftptrace.replay import Analysis

app = typer.Typer(
    name="ftptrace",
    help="Show exactly where FTP breaks on its way through NAT routers and firewalls.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
lab_app = typer.Typer(
    help="Real NAT labs in network namespaces: every failure mode on demand.", no_args_is_help=True
)
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


def _exit_for(analysis: Analysis) -> ExitStatus:
    from ftptrace.diagnose.findings import Severity

    if analysis.unreadable and not analysis.trace.captures:
        return ExitStatus.USAGE
    if any(f.severity is Severity.ERROR for f in analysis.findings):
        return ExitStatus.FINDINGS
    return ExitStatus.OK


@app.command()
def replay(
    captures: Annotated[
        list[str],
        typer.Argument(
            help="pcap/pcapng files (gzip ok); LABEL=FILE names the vantage point "
            "(client, client-router-lan, client-router-wan, server-router-wan, "
            "server-router-lan, server)."
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the ftptrace/1 JSON document.")
    ] = False,
    ports: Annotated[str, typer.Option(help="FTP control ports, comma-separated.")] = "21",
) -> None:
    """Rebuild FTP sessions from captures and say what became of every data channel."""
    from ftptrace.render.json import dumps, to_document
    from ftptrace.render.terminal import make_console, render_analysis
    from ftptrace.replay import analyze, parse_input

    control_ports = _parse_ports(ports)
    inputs = [parse_input(c) for c in captures]
    analysis = run_use_case(lambda: analyze(inputs, control_ports))
    for msg in analysis.unreadable:
        typer.echo(f"ftptrace: {msg}", err=True)
    if as_json:
        typer.echo(dumps(to_document(analysis)), nl=False)
    else:
        render_analysis(analysis, make_console())
    raise typer.Exit(int(_exit_for(analysis)))


def _parse_ports(text: str) -> frozenset[int]:
    try:
        ports = frozenset(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise _fail(f"--ports: not a list of port numbers: {text!r}") from None
    if not ports or any(not 0 < p < 65536 for p in ports):
        raise _fail(f"--ports: ports must be 1-65535: {text!r}")
    return ports


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
