"""The typer application: one use case per command.

This is the only module that parses arguments, prints errors and picks exit codes; every
use case below is a thin call into the library. Exceptions from `ftptrace.errors` become
one-line messages and `ExitStatus` codes here and nowhere else.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
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
    annotate: Annotated[
        Path | None,
        typer.Option(
            "--annotate",
            help="Write OUT.pcapng: the packets of the (first) capture with comments on the "
            "frames that matter (tshark -Y frame.comment; Wireshark shows them).",
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a one-page HTML report to this file.")
    ] = None,
) -> None:
    """Rebuild FTP sessions from captures and say what became of every data channel."""
    from ftptrace.render.json import dumps
    from ftptrace.replay import analyze, document, parse_input

    control_ports = _parse_ports(ports)
    inputs = [parse_input(c) for c in captures]
    _refuse_overwrite([annotate, report], [p for _, p in inputs])
    if as_json and len(inputs) == 1 and annotate is None and report is None:
        # One capture as JSON: stream it, in constant memory whatever its size.
        from ftptrace.stream import stream_json

        vantage, path = inputs[0]
        errors = run_use_case(
            lambda: stream_json(path, sys.stdout, vantage=vantage, control_ports=control_ports)
        )
        raise typer.Exit(int(ExitStatus.FINDINGS if errors else ExitStatus.OK))
    analysis = run_use_case(lambda: analyze(inputs, control_ports))
    for msg in analysis.unreadable:
        typer.echo(f"ftptrace: {msg}", err=True)
    if analysis.unreadable and not analysis.trace.captures:
        # Nothing was read: no "No problems found.", no report or copy of nothing.
        raise typer.Exit(int(ExitStatus.USAGE))
    if annotate is not None or report is not None:
        _write_artifacts(document(analysis), inputs, annotate, report)
    if as_json:
        typer.echo(dumps(document(analysis)), nl=False)
    else:
        from ftptrace.render.terminal import make_console, render_analysis  # rich: not for JSON

        console = make_console()
        render_analysis(analysis, console)
        if analysis.correlation is not None:  # several captures (issue 6)
            from ftptrace.render.correlation import render_correlation

            render_correlation(analysis.correlation, console)
    raise typer.Exit(int(_exit_for(analysis)))


def _write_artifacts(
    doc: dict[str, object],
    inputs: list[tuple[str | None, Path]],
    annotate: Path | None,
    report: Path | None,
) -> None:
    """`--annotate` and `--report`: files next to the report, errors as one line each."""
    if annotate is not None:
        from ftptrace.render.pcapng import write_annotated_pcapng

        source = inputs[0][1]
        try:
            count = run_use_case(lambda: write_annotated_pcapng(source, annotate, doc))
        except OSError as exc:
            raise _fail(f"cannot write {annotate}: {exc.strerror or exc}") from None
        typer.echo(f"ftptrace: wrote {annotate} ({count} packet comments)", err=True)
    if report is not None:
        from ftptrace.render.html import render_html_report

        try:
            report.write_text(render_html_report(doc), encoding="utf-8")
        except OSError as exc:
            raise _fail(f"cannot write {report}: {exc.strerror or exc}") from None
        typer.echo(f"ftptrace: wrote {report}", err=True)


def _refuse_overwrite(outputs: list[Path | None], inputs: list[Path]) -> None:
    """An output file that is one of the inputs would destroy the evidence: refuse."""
    import os

    for out in outputs:
        for src in inputs:
            try:
                same = out is not None and os.path.samefile(out, src)
            except OSError:  # one of them does not exist (yet): not the same file
                same = False
            if same:
                raise _fail(f"{out} is also an input: refusing to overwrite it")


def _parse_ports(text: str) -> frozenset[int]:
    try:
        ports = frozenset(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise _fail(f"--ports: not a list of port numbers: {text!r}") from None
    if not ports or any(not 0 < p < 65536 for p in ports):
        raise _fail(f"--ports: ports must be 1-65535: {text!r}")
    return ports


# --- diagram (issue 5) ------------------------------------------------------------------

DIAGRAM_FORMATS = ("terminal", "mermaid", "svg", "html")


def _load_document(path: str) -> dict[str, object]:
    """An `ftptrace/1` document from `replay --json` or a probe's `--json` output."""
    import json
    import os

    try:
        # Non-blocking open: a FIFO nobody writes to reads as empty instead of hanging;
        # a pipe with a writer (`--from-json /dev/stdin`) still works.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        os.set_blocking(fd, True)
        with open(fd, encoding="utf-8") as f:
            doc = json.load(f)
        # Lone surrogates ("\ud800" in the file) load fine but cannot be printed.
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != "ftptrace/1":
        raise UsageError(f"{path}: not an ftptrace/1 document")
    return doc


def _render_diagram(doc: dict[str, object] | None, explain_mode: str | None,
                    port_range: str | None, fmt: str, ascii_out: bool,
                    output: str | None) -> ExitStatus:
    import io

    from ftptrace.render import diagram_text, explain, html, mermaid, svg
    from ftptrace.render.diagram_model import build_diagram, has_errors

    prelude: list[str] = []
    if explain_mode is not None:
        rng = explain.parse_port_range(port_range) if port_range else None
        e = explain.explain(explain_mode, rng)
        diagram, status = e.diagram, ExitStatus.OK
        prelude.append(explain.render_explanation_text(e))
    else:
        assert doc is not None
        diagram = build_diagram(doc)
        status = ExitStatus.FINDINGS if has_errors(doc) else ExitStatus.OK
    if fmt == "terminal":
        buffer = io.StringIO()
        diagram_text.emit([diagram], buffer if output else sys.stdout,
                          ascii=True if ascii_out or output else None, prelude=prelude)
        text = buffer.getvalue()
    elif fmt == "mermaid":
        text = mermaid.render_mermaid(diagram)
    elif fmt == "svg":
        text = svg.render_svg(diagram)
    elif explain_mode is not None:
        text = html.render_explain_html(e)
    else:
        assert doc is not None
        text = html.render_html_report(doc)
    if output:
        try:
            with open(output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            raise UsageError(f"{output}: {exc.strerror or exc}") from None
    elif fmt != "terminal":
        typer.echo(text, nl=False)
    return status


@app.command()
def diagram(
    captures: Annotated[
        list[str] | None,
        typer.Argument(help="pcap/pcapng files (gzip ok); LABEL=FILE names the vantage point."),
    ] = None,
    from_json: Annotated[
        str | None,
        typer.Option("--from-json", metavar="FILE",
                     help="Draw an ftptrace/1 document (replay --json, a probe's --json)."),
    ] = None,
    explain_mode: Annotated[
        str | None,
        typer.Option("--explain", metavar="port|pasv|both",
                     help="Teach table E4 through NAT: PORT, PASV or both side by side."),
    ] = None,
    server_port_range: Annotated[
        str | None,
        typer.Option("--server-port-range", metavar="LOW-HIGH",
                     help="Passive port range for --explain, e.g. 50000-50010."),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="terminal, mermaid, svg or html.")
    ] = "terminal",
    ascii_out: Annotated[
        bool, typer.Option("--ascii", help="Plain ASCII (the default when not a terminal).")
    ] = False,
    output: Annotated[
        str | None, typer.Option("--output", "-o", metavar="FILE", help="Write to FILE.")
    ] = None,
) -> None:
    """Sequence diagram of every connection, hop by hop, failures in red where they died."""
    sources = sum(x is not None and x != [] for x in (captures, from_json, explain_mode))
    if sources != 1:
        raise _fail("diagram: give CAPTURE..., --from-json FILE or --explain MODE (one of them)")
    if fmt not in DIAGRAM_FORMATS:
        raise _fail(f"--format: one of {', '.join(DIAGRAM_FORMATS)}, not {fmt!r}")
    if server_port_range is not None and explain_mode is None:
        raise _fail("--server-port-range goes with --explain")

    if output is not None:
        from ftptrace.replay import parse_input

        sources_in = [parse_input(c)[1] for c in captures or ()]
        _refuse_overwrite([Path(output)], sources_in + ([Path(from_json)] if from_json else []))

    def use_case() -> ExitStatus:
        doc: dict[str, object] | None = None
        if from_json is not None:
            doc = _load_document(from_json)
            try:
                return _render_diagram(doc, None, None, fmt, ascii_out, output)
            except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
                # Hand-edited or foreign JSON: a wrong type somewhere in the document.
                raise UsageError(f"{from_json}: not a well-formed ftptrace/1 document "
                                 f"({type(exc).__name__}: {exc})") from None
        elif captures:
            from ftptrace.replay import analyze, document, parse_input

            analysis = analyze([parse_input(c) for c in captures])
            for msg in analysis.unreadable:
                typer.echo(f"ftptrace: {msg}", err=True)
            if analysis.unreadable and not analysis.trace.captures:
                return ExitStatus.USAGE
            doc = document(analysis)  # with hop-by-hop paths when several vantages are given
        return _render_diagram(doc, explain_mode, server_port_range, fmt, ascii_out, output)

    raise typer.Exit(int(run_use_case(use_case)))


# --- live probes (issue 4) --------------------------------------------------------------

_HostArg = Annotated[str, typer.Argument(help="The FTP server: HOST, HOST:PORT or [V6]:PORT.")]
_UserOpt = Annotated[str | None, typer.Option("--user", "-u",
                     help="Login name (default: ~/.netrc, else anonymous).")]
_PassOpt = Annotated[str | None, typer.Option("--password",
                     help="Password; '-' prompts for it (never echoed or printed).")]
_CmdOpt = Annotated[str, typer.Option("--command", "-c",
                    help="Transfer to try: LIST, NLST, 'RETR FILE' or 'STOR FILE'.")]
_CountOpt = Annotated[int, typer.Option("--count", "-n",
                      help="Repeat the data channel N times (see several passive ports).")]
_TimeoutOpt = Annotated[float, typer.Option("--timeout", "-t",
                        help="Seconds any single step may wait.")]
_ProbeTimeoutOpt = Annotated[float, typer.Option(
    "--timeout", "-t", help="Seconds per phase, not per step: the login (connect through "
    "USER/PASS/TYPE) must finish within it, and so must each data round (PASV/PORT, data "
    "connection, transfer); a run ends within timeout x (1 + count) + 0.5 s. When a "
    "budget runs out the probe says so and exits 1.")]
_JsonOpt = Annotated[bool, typer.Option("--json", help="Print the ftptrace/1 JSON document.")]
_IfaceOpt = Annotated[str | None, typer.Option("--iface", "-i",
                      help="Watch only this interface (default: all).")]
_PcapOpt = Annotated[str | None, typer.Option("--pcap", help="Save the sniffed packets here.")]
_TlsOpt = Annotated[bool, typer.Option("--tls", help="Explicit FTPS (AUTH TLS, RFC 4217).")]
_KeylogOpt = Annotated[str | None, typer.Option(
    "--keylog", help="With --tls: write TLS keys (NSS key log) to decrypt the capture.")]


def _probe_command(mode: str, host: str, user: str | None, password: str | None, command: str,
                   count: int, timeout: float, as_json: bool, iface: str | None,
                   pcap: str | None, tls: bool, keylog: str | None, *,
                   advertise: str | None = None, follow: bool = False,
                   third_party: bool = False) -> None:
    from pathlib import Path

    from ftptrace.probe.commands import probe_document, render_probe, run_live_probe
    from ftptrace.render.json import dumps
    from ftptrace.render.terminal import make_console

    if password == "-":
        password = typer.prompt("Password", hide_input=True, default="", show_default=False)
    result = run_use_case(lambda: run_live_probe(
        mode, host, user=user, password=password, command=command, count=count,
        timeout=timeout, advertise=advertise, iface=iface, pcap=Path(pcap) if pcap else None,
        tls=tls, keylog=Path(keylog) if keylog else None,
        follow_announced=follow, allow_third_party=third_party))
    if result.report.capture is not None:
        _mask_saved_capture(Path(result.report.capture), probe_document(result))
    if as_json:
        typer.echo(dumps(probe_document(result)), nl=False)
    else:
        render_probe(result, make_console())
    raise typer.Exit(int(ExitStatus.FINDINGS if result.failed else ExitStatus.OK))


def _mask_saved_capture(saved: Path, doc: dict[str, object]) -> None:
    """A probe's `--pcap` holds the PASS it typed: rewrite it masked, with packet comments.

    The saved frames are numbered as the probe's findings cite them, so the comments land on
    the right packets; the credentials are overwritten in the packet bytes (same length,
    checksums fixed), as `replay --annotate` does.
    """
    from ftptrace.render.pcapng import write_annotated_pcapng

    raw = saved.with_name(saved.name + ".raw")
    try:
        saved.replace(raw)
        write_annotated_pcapng(raw, saved, doc)
    except (OSError, FtptraceError) as exc:
        raise _fail(f"cannot rewrite {saved} without credentials: {exc}") from None
    finally:
        raw.unlink(missing_ok=True)


_FollowOpt = Annotated[bool, typer.Option(
    "--follow-announced", help="Connect to the address in the reply as written (never to a "
    "third-party public address unless --allow-third-party).")]
_ThirdOpt = Annotated[bool, typer.Option(
    "--allow-third-party", help="With --follow-announced: allow a public address other than "
    "the server (an FTP bounce target).")]
_AdvertiseOpt = Annotated[str | None, typer.Option(
    "--advertise", help="Address to announce in PORT/EPRT: IP, IP:PORT or :PORT "
    "(default: the control connection's local address).")]


@app.command()
def pasv(host: _HostArg, user: _UserOpt = None, password: _PassOpt = None,
         command: _CmdOpt = "LIST", count: _CountOpt = 1, timeout: _ProbeTimeoutOpt = 5.0,
         as_json: _JsonOpt = False, iface: _IfaceOpt = None, pcap: _PcapOpt = None,
         tls: _TlsOpt = False, keylog: _KeylogOpt = None, follow_announced: _FollowOpt = False,
         allow_third_party: _ThirdOpt = False) -> None:
    """Passive mode by hand: PASV, check the 227 address, open the data connection, watch."""
    _probe_command("pasv", host, user, password, command, count, timeout, as_json, iface, pcap,
                   tls, keylog, follow=follow_announced, third_party=allow_third_party)


@app.command()
def epsv(host: _HostArg, user: _UserOpt = None, password: _PassOpt = None,
         command: _CmdOpt = "LIST", count: _CountOpt = 1, timeout: _ProbeTimeoutOpt = 5.0,
         as_json: _JsonOpt = False, iface: _IfaceOpt = None, pcap: _PcapOpt = None,
         tls: _TlsOpt = False, keylog: _KeylogOpt = None) -> None:
    """Extended passive mode (RFC 2428): EPSV, open the data connection, watch."""
    _probe_command("epsv", host, user, password, command, count, timeout, as_json, iface, pcap,
                   tls, keylog)


@app.command()
def port(host: _HostArg, user: _UserOpt = None, password: _PassOpt = None,
         command: _CmdOpt = "LIST", count: _CountOpt = 1, timeout: _ProbeTimeoutOpt = 5.0,
         as_json: _JsonOpt = False, iface: _IfaceOpt = None, pcap: _PcapOpt = None,
         tls: _TlsOpt = False, keylog: _KeylogOpt = None,
         advertise: _AdvertiseOpt = None) -> None:
    """Active mode by hand: listen, PORT, and watch whether the server's connection arrives."""
    _probe_command("port", host, user, password, command, count, timeout, as_json, iface, pcap,
                   tls, keylog, advertise=advertise)


@app.command()
def eprt(host: _HostArg, user: _UserOpt = None, password: _PassOpt = None,
         command: _CmdOpt = "LIST", count: _CountOpt = 1, timeout: _ProbeTimeoutOpt = 5.0,
         as_json: _JsonOpt = False, iface: _IfaceOpt = None, pcap: _PcapOpt = None,
         tls: _TlsOpt = False, keylog: _KeylogOpt = None,
         advertise: _AdvertiseOpt = None) -> None:
    """Extended active mode (RFC 2428, IPv4 or IPv6): listen, EPRT, watch."""
    _probe_command("eprt", host, user, password, command, count, timeout, as_json, iface, pcap,
                   tls, keylog, advertise=advertise)


def _crafted_output(result: object, as_json: bool) -> None:
    from ftptrace.probe.commands import CraftedResult, render_crafted
    from ftptrace.render.json import dumps
    from ftptrace.render.terminal import make_console

    assert isinstance(result, CraftedResult)
    if as_json:
        typer.echo(dumps(result.document()), nl=False)
    else:
        render_crafted(result, make_console())
    raise typer.Exit(int(ExitStatus.FINDINGS if result.failed else ExitStatus.OK))


@app.command()
def sweep(
    host: _HostArg,
    ports: Annotated[str | None, typer.Option(
        "--ports", "-p", help="Passive range to test, e.g. 50000-50100 (commas allowed).")] = None,
    from_pasv: Annotated[int | None, typer.Option(
        "--from-pasv", help="Learn the range from N PASV replies instead.")] = None,
    rate: Annotated[float, typer.Option(help="SYNs per second at most.")] = 2000.0,
    wait: Annotated[float, typer.Option(help="Seconds to wait for answers after sending.")] = 1.0,
    retries: Annotated[int, typer.Option(help="Ask silent ports again this many times.")] = 1,
    user: _UserOpt = None, password: _PassOpt = None, timeout: _TimeoutOpt = 5.0,
    iface: _IfaceOpt = None, as_json: _JsonOpt = False,
) -> None:
    """SYN every port of the passive range (root): which ones does the router forward?"""
    from ftptrace.probe.commands import run_sweep_command

    if password == "-":
        password = typer.prompt("Password", hide_input=True, default="", show_default=False)
    result = run_use_case(lambda: run_sweep_command(
        host, ports=ports, from_pasv=from_pasv, rate=rate, wait=wait, retries=retries,
        iface=iface, timeout=timeout, user=user, password=password))
    _crafted_output(result, as_json)


@app.command()
def path(
    host: _HostArg,
    data_port: Annotated[int, typer.Option("--port", "-p", help="The data port to follow.")],
    max_hops: Annotated[int, typer.Option(help="Highest TTL to try.")] = 16,
    wait: Annotated[float, typer.Option(help="Seconds to wait for answers.")] = 1.0,
    timeout: _TimeoutOpt = 5.0, iface: _IfaceOpt = None, as_json: _JsonOpt = False,
) -> None:
    """TTL-limited SYNs to the data port and to 21 (root): the hop that stops the data port."""
    from ftptrace.probe.commands import run_path_command

    result = run_use_case(lambda: run_path_command(
        host, data_port=data_port, max_hops=max_hops, wait=wait, iface=iface, timeout=timeout))
    _crafted_output(result, as_json)


# --- check / watch (issue 6) ------------------------------------------------------------


@app.command()
def check(
    host: Annotated[str, typer.Argument(
        help="The server as you would dial it from here: its LAN address, its global "
        "address, 127.0.0.1 on the server itself, or a name (HOST[:PORT]).")],
    public_ip: Annotated[str | None, typer.Option(
        "--public-ip", help="The router's global address (for the hairpin and DNS steps).")
    ] = None,
    hostname: Annotated[str | None, typer.Option(
        "--hostname", help="The dynamic-DNS name to check against the global address.")
    ] = None,
    upload: Annotated[bool, typer.Option(
        "--upload", help="Also upload a small file and delete it.")] = False,
    upload_dir: Annotated[str, typer.Option(
        "--upload-dir", help="Directory to upload into (anonymous servers often have one).")
    ] = "",
    file: Annotated[str, typer.Option(
        "--file", help="The test file to download (the guide's test.jpg).")] = "test.jpg",
    user: _UserOpt = None,
    password: _PassOpt = None,
    timeout: _TimeoutOpt = 5.0,
    as_json: _JsonOpt = False,
) -> None:
    """The field guide's procedure E in one command: which step fails first, and why."""
    from ftptrace.check import CheckOptions, run_check
    from ftptrace.check.report import check_document
    from ftptrace.render.check import render_check
    from ftptrace.render.json import dumps
    from ftptrace.render.terminal import make_console

    if password == "-":
        password = typer.prompt("Password", hide_input=True, default="", show_default=False)
    opts = CheckOptions(host=host, public_ip=public_ip, hostname=hostname, upload=upload,
                        upload_dir=upload_dir, file=file, user=user, password=password,
                        timeout=timeout)
    report = run_use_case(lambda: run_check(opts))
    if as_json:
        typer.echo(dumps(check_document(report)), nl=False)
    else:
        render_check(report, make_console())
    failed = report.failed or any(
        f.severity.value == "error" for f in report.analysis.findings)
    raise typer.Exit(int(ExitStatus.FINDINGS if failed else ExitStatus.OK))


@app.command()
def watch(
    iface: Annotated[list[str] | None, typer.Option(
        "--iface", "-i", help="Interface to sniff (repeat for several; default: all). On a "
        "router pick one side: both sides show each connection twice, before and after NAT."
    )] = None,
    ports: Annotated[str, typer.Option(help="FTP control ports, comma-separated.")] = "21",
    pcap: Annotated[str | None, typer.Option("--pcap", help="Keep the packets (pcapng).")] = None,
    json_lines: Annotated[bool, typer.Option(
        "--json-lines", help="One JSON object per event, then a summary object.")] = False,
    duration: Annotated[float | None, typer.Option(
        help="Stop after this many seconds (default: at Ctrl-C).")] = None,
    wait: Annotated[float, typer.Option(
        help="Seconds a data SYN may go unanswered before it counts as unanswered.")] = 10.0,
) -> None:
    """Rebuild FTP sessions live (root): one line per data channel as it resolves."""
    from pathlib import Path

    from ftptrace.watch import WatchOptions, run_watch

    if duration is not None and not 0 < duration <= 86400 * 365:
        raise _fail("--duration must be positive")
    if not 0 < wait <= 600:
        raise _fail("--wait must be between 0 and 600 seconds")
    opts = WatchOptions(ifaces=tuple(iface or ()), control_ports=_parse_ports(ports),
                        pcap=Path(pcap) if pcap else None, json_lines=json_lines,
                        duration=duration, wait=wait)
    summary = run_use_case(lambda: run_watch(
        opts, lambda line: typer.echo(line),
        started=lambda text: typer.echo(f"ftptrace: {text}", err=True)))
    raise typer.Exit(int(ExitStatus.FINDINGS if summary.failed else ExitStatus.OK))


# --- lab (issue 3) ----------------------------------------------------------------------

LAB_DEMO = (
    "pasv-ok",
    "pasv-private-address",
    "pasv-range-not-forwarded-drop",
    "port-client-behind-nat-illegal-port",
    "hairpin",
)
_LabName = Annotated[
    str | None,
    typer.Option("--lab", help="Which lab (its prefix, e.g. ft3fa9); default: the only one up."),
]
_ServerOpt = Annotated[
    str,
    typer.Option("--server", help="FTP server: auto (vsftpd if installed), vsftpd, pyftpdlib."),
]


def _lab_need_root() -> None:
    from ftptrace.lab.runner import require_root

    require_root()


def _echo_lines(lines: list[str]) -> None:
    for line in lines:
        typer.echo(line)


@lab_app.command("list")
def lab_list() -> None:
    """The scenarios, one each: what is wrong and what a user would see."""
    from ftptrace.lab.report import scenario_list

    run_use_case(_lab_need_root)
    _echo_lines(scenario_list())


@lab_app.command("up")
def lab_up(
    scenario: Annotated[str, typer.Argument(help="Scenario name (see `ftptrace lab list`).")],
    server: _ServerOpt = "auto",
) -> None:
    """Build a scenario's lab and leave it running (until `ftptrace lab down`)."""
    from ftptrace.lab.report import status
    from ftptrace.lab.runner import Lab, sigterm_as_interrupt
    from ftptrace.lab.state import LabState

    def up() -> LabState:
        lab = Lab(scenario, server=server)
        with sigterm_as_interrupt():
            try:
                lab.build()
            except BaseException:
                lab.teardown()
                raise
        lab.detach()
        return lab.state

    _echo_lines(status(run_use_case(up)))


@lab_app.command("down")
def lab_down(
    lab: Annotated[
        str | None, typer.Argument(help="One lab's prefix; default: all that are safe.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Also remove labs whose owner process still runs.")
    ] = False,
) -> None:
    """Tear labs down (idempotent); also removes what crashed runs left behind."""
    from ftptrace.lab.state import down

    def go() -> list[str]:
        _lab_need_root()
        return down(lab, force=force)

    removed = run_use_case(go)
    names = (": " + " ".join(removed)) if removed else ""
    typer.echo(f"removed {len(removed)} namespace(s){names}")


@lab_app.command("status")
def lab_status(lab: Annotated[str | None, typer.Argument(help="One lab's prefix.")] = None) -> None:
    """Hosts, addresses, NAT rules and server settings of the labs that are up."""
    from ftptrace.lab import state
    from ftptrace.lab.report import status

    def go() -> list[state.LabState]:
        _lab_need_root()
        return [state.find(lab)] if lab is not None else state.active()

    labs = run_use_case(go)
    if not labs:
        typer.echo("no lab is up (start one with `ftptrace lab up SCENARIO`)")
    for i, s in enumerate(labs):
        if i:
            typer.echo("")
        _echo_lines(status(s))


@lab_app.command(
    "exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def lab_exec(
    host: Annotated[
        str,
        typer.Argument(
            help="client, client-router, internet, server-router, server or lan-client"
        ),
    ],
    cmd: Annotated[list[str], typer.Argument(help="The command, after `--`.")],
    lab: _LabName = None,
    timeout: Annotated[
        float, typer.Option(help="Kill the command after this many seconds.")
    ] = 3600.0,
) -> None:
    """Run a command inside one host of a lab that is up: `ftptrace lab exec client -- curl …`."""
    import subprocess

    from ftptrace.errors import LabError
    from ftptrace.lab import state
    from ftptrace.lab.topology import Host

    def go() -> int:
        _lab_need_root()
        s = state.find(lab)
        try:
            ns = s.namespaces[Host(host).value]
        except (ValueError, KeyError):
            raise UsageError(
                f"lab {s.prefix.rstrip('-')} has no host {host!r} "
                f"(hosts: {', '.join(s.namespaces)})"
            ) from None
        try:
            argv = ["ip", "netns", "exec", ns, *cmd]
            return subprocess.run(argv, timeout=timeout, check=False).returncode
        except subprocess.TimeoutExpired:
            raise LabError(f"{cmd[0]} still running after {timeout:.0f}s; killed") from None
        except FileNotFoundError as exc:
            raise LabError(str(exc)) from None

    raise typer.Exit(run_use_case(go))


@lab_app.command("run")
def lab_run(
    scenario: Annotated[
        str | None, typer.Argument(help="Scenario name (see `ftptrace lab list`).")
    ] = None,
    client: Annotated[
        str | None, typer.Option(help="curl, lftp or ftplib (default: the scenario's).")
    ] = None,
    mode: Annotated[
        str | None, typer.Option(help="pasv, port, epsv or eprt (default: the scenario's).")
    ] = None,
    capture: Annotated[
        str | None,
        typer.Option(help="Write one pcap per vantage point here (with --all: DIR/<scenario>/)."),
    ] = None,
    server: _ServerOpt = "auto",
    all_: Annotated[bool, typer.Option("--all", help="Run every scenario (in parallel).")] = False,
    jobs: Annotated[int, typer.Option(help="Scenarios at once with --all.")] = 4,
) -> None:
    """Build a scenario, run a real client in it, capture at every hop, tear down, report.

    Exit status 0 when the client did what the scenario declares, 1 when it did not.
    """
    from pathlib import Path

    from ftptrace.lab import report
    from ftptrace.lab.runner import LabRun, run_scenario
    from ftptrace.lab.scenarios import SCENARIOS

    if all_:
        if scenario is not None or client is not None or mode is not None:
            raise _fail("--all runs every scenario with its own client and mode")
        from ftptrace.lab.shipped import run_many

        def one_done(name: str, run: LabRun | None, err: FtptraceError | None) -> None:
            if run is None:
                typer.echo(f"{name:<38} ERROR {err}")
            else:
                typer.echo(f"{name:<38} {'ok  ' if run.as_expected else 'DIFF'} {run.summary}")

        def every() -> dict[str, LabRun | FtptraceError]:
            _lab_need_root()
            root = Path(capture) if capture is not None else None
            return run_many([s.name for s in SCENARIOS], capture_root=root, jobs=jobs,
                            server=server, on_done=one_done)

        results = run_use_case(every)
        bad = [n for n, r in results.items() if not isinstance(r, LabRun) or not r.as_expected]
        typer.echo(f"{len(results) - len(bad)}/{len(results)} scenarios as expected"
                   + (f"; not: {', '.join(bad)}" if bad else ""))
        raise typer.Exit(int(ExitStatus.FINDINGS if bad else ExitStatus.OK))
    if scenario is None:
        raise _fail("name a scenario (see `ftptrace lab list`) or use --all")

    def one() -> LabRun:
        _lab_need_root()
        try:
            out = Path(capture) if capture is not None else None
            return run_scenario(scenario, client, mode, out, server=server)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    run = run_use_case(one)
    _echo_lines(report.run_result(run))
    if run.captures:
        labels = " ".join(f"{n}={p}" for n, p in run.captures.items())
        typer.echo(f"  diagnose: ftptrace replay {labels}")
    raise typer.Exit(int(ExitStatus.OK if run.as_expected else ExitStatus.FINDINGS))


@lab_app.command("demo")
def lab_demo(
    capture: Annotated[str | None, typer.Option(help="Keep the captures here.")] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Show the whole replay of each scenario.")
    ] = False,
) -> None:
    """The guided tour: a few broken setups, each run for real and diagnosed by ftptrace."""
    import tempfile
    from pathlib import Path

    from ftptrace.diagnose.findings import Finding
    from ftptrace.lab import report
    from ftptrace.lab.runner import LabRun
    from ftptrace.lab.shipped import run_many
    from ftptrace.replay import analyze

    def go() -> tuple[dict[str, LabRun | FtptraceError], Path]:
        _lab_need_root()
        root = Path(capture) if capture else Path(tempfile.mkdtemp(prefix="ftptrace-demo-"))
        return run_many(LAB_DEMO, capture_root=root, jobs=len(LAB_DEMO)), root

    run_use_case(_lab_need_root)
    typer.echo(
        f"Building {len(LAB_DEMO)} labs (client, NAT routers, internet, FTP server) "
        "and running a real client in each …\n"
    )
    results, root = run_use_case(go)
    for i, name in enumerate(LAB_DEMO, 1):
        run = results.get(name)
        typer.echo(f"── {i}/{len(LAB_DEMO)}  {name} " + "─" * max(0, 60 - len(name)))
        if not isinstance(run, LabRun):
            typer.echo(f"  could not run: {run}")
            continue
        _echo_lines(report.run_result(run, transcript=False)[:4])
        analysis = analyze([(v, p) for v, p in run.captures.items()])
        if full:
            from ftptrace.render.terminal import make_console, render_analysis

            render_analysis(analysis, make_console())
        elif analysis.findings:
            # One line per (code, place): the same fact seen from several vantages is one fact.
            seen: dict[tuple[str, str], int] = {}
            first: dict[tuple[str, str], Finding] = {}
            for f in analysis.findings:
                key = (f.code.value, f.where.value)
                seen[key] = seen.get(key, 0) + 1
                first.setdefault(key, f)
            typer.echo("  ftptrace says:")
            for key, f in first.items():
                sev = f.severity.value.upper()
                more = f" [{seen[key]} vantages]" if seen[key] > 1 else ""
                typer.echo(f"    {sev:<7} {f.code.value} at {f.where.value}{more}: {f.summary}")
                if f.hint:
                    typer.echo(f"            → {f.hint}")
        else:
            typer.echo("  ftptrace says: no problems found.")
        typer.echo("")
    run_use_case(_demo_live_sweep)
    typer.echo(f"Captures: {root}/<scenario>/<vantage>.pcap (replay them: `ftptrace replay`).")
    typer.echo("More scenarios: `ftptrace lab list`; explore one: `ftptrace lab up NAME`.")


def _demo_live_sweep() -> None:
    """The demo's live part: crafted SYNs from a lab client map the forwarded range."""
    from ftptrace.lab.runner import Lab

    name = "pasv-range-partly-forwarded"
    typer.echo(f"── live  {name}: `ftptrace sweep` from the client " + "─" * 10)
    typer.echo("  the server uses passive ports 50000-50009; which does its router forward?")
    with Lab(name) as lab:
        argv = ["ftptrace", "sweep", lab.dial, "--ports", "50000-50009"]
        typer.echo(f"  $ {' '.join(argv)}")
        result = lab.exec("client", argv, 30)
    for line in (result.stdout or result.stderr).rstrip().splitlines():
        typer.echo(f"  {line}")
    typer.echo("")


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("ftptrace: interrupted", err=True)
        sys.exit(int(ExitStatus.INTERRUPTED))
