"""Replay benchmark: ftptrace against tshark on a large synthetic capture.

Generates (streaming, with struct) a capture of N packets: ~20% FTP (real dialogues with
PASV/EPSV/PORT, LIST/RETR, and failures: 425, unanswered data SYNs, RSTs, refused
control connections, failed logins), ~60% HTTPS bulk TCP and ~20% DNS over UDP. Then, each
in its own subprocess so time and peak RSS (wait4 rusage) belong to that run alone:

  read      CaptureReader only (frames/s of the container parser)
  decode    read + decode() of every frame (the hot path)
  filtered  the reader as replay sets it up (port prefilter judged a buffer at a time,
            a helper process indexing large files) + decode(..., ports), control port only
  replay    `ftptrace replay --json FILE`
  tshark    `tshark -r FILE -Y 'ftp || tcp.flags.syn==1 || tcp.flags.reset==1' -T fields ...`

and checks that ftptrace and tshark saw the same FTP commands (counts by verb), and both
the generator's own tally. Outputs go to bench/out/ (gitignored).

    python bench/bench_replay.py                       # 2,000,000 packets
    python bench/bench_replay.py --sizes 200000,2000000
    python bench/bench_replay.py --packets 100000 --decode-only
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import struct
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"
FTP_SHARE, HTTPS_SHARE = 0.20, 0.60  # the rest is DNS
ACTIVE_FLOWS = 40  # concurrent flows per traffic class: packets interleave like real traffic

_FRAME = struct.Struct("!6s6sH" "BBHHHBBH4s4s" "HHIIBBHHH")  # Ethernet + IPv4 + TCP
_UDP_FRAME = struct.Struct("!6s6sH" "BBHHHBBH4s4s" "HHHH")
_REC = struct.Struct("<IIII")
_MAC_C, _MAC_S = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


# -- generator -------------------------------------------------------------------------------


class Tcp:
    """One TCP connection; `seg` builds a frame and advances that side's sequence number."""

    def __init__(self, rng: random.Random, cip: bytes, cport: int, sip: bytes, sport: int):
        self.rng = rng
        self.ends = ((cip, cport), (sip, sport))
        self.seq = [rng.getrandbits(32), rng.getrandbits(32)]
        self.ip_id = [rng.getrandbits(16), rng.getrandbits(16)]

    def seg(self, from_client: bool, flags: int, payload: bytes = b"") -> bytes:
        me = 0 if from_client else 1
        (src, sport), (dst, dport) = self.ends[me], self.ends[1 - me]
        ack = self.seq[1 - me] if flags & ACK else 0
        seq = self.seq[me]
        self.seq[me] = (seq + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        self.ip_id[me] = (self.ip_id[me] + 1) & 0xFFFF
        return _FRAME.pack(
            _MAC_S if from_client else _MAC_C, _MAC_C if from_client else _MAC_S, 0x0800,
            0x45, 0, 40 + len(payload), self.ip_id[me], 0x4000, 64 if from_client else 57, 6, 0,
            src, dst, sport, dport, seq, ack, 0x50, flags, 64240, 0, 0,
        ) + payload

    def handshake(self) -> Iterator[bytes]:
        yield self.seg(True, SYN)
        yield self.seg(False, SYN | ACK)
        yield self.seg(True, ACK)

    def close(self) -> Iterator[bytes]:
        yield self.seg(True, FIN | ACK)
        yield self.seg(False, FIN | ACK)
        yield self.seg(True, ACK)


MSS = 1448  # Ethernet MTU 1500 - IPv4 20 - TCP 20 - timestamps 12


def _tls(content_type: int, size: int) -> bytes:
    """One TLS record (RFC 8446 §5.1): type, legacy version 3.3, length, opaque body."""
    return struct.pack("!BHH", content_type, 0x0303, size) + b"x" * size


def _mss(stream: bytes) -> list[bytes]:
    """A byte stream cut into full-size TCP segments (the last one shorter)."""
    return [stream[i : i + MSS] for i in range(0, len(stream), MSS)]


def _ip(a: int, b: int, c: int, d: int) -> bytes:
    return bytes((a, b, c, d))


class Traffic:
    """Streams of frames per traffic class, plus the tally of FTP commands sent."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.commands: Counter[str] = Counter()
        self._port = 20000

    def _eph(self) -> int:
        self._port = 20000 + (self._port - 20000 + 7) % 40000
        return self._port

    def _client(self) -> bytes:
        r = self.rng
        return _ip(10, 1, r.randrange(256), r.randrange(1, 255))

    # FTP -------------------------------------------------------------------------------------

    def ftp(self) -> Iterator[bytes]:
        r = self.rng
        cip, sip = self._client(), _ip(203, 0, 113, r.randrange(1, 60))
        ctl = Tcp(r, cip, self._eph(), sip, 21)
        kind = r.choices(
            ["pasv", "epsv", "port", "pasv-dead", "pasv-private", "port-rst", "refused", "badpw"],
            [30, 20, 20, 8, 5, 7, 5, 5],
        )[0]
        if kind == "refused":  # nothing listens on 21: RST for the SYN (RFC 9293 §3.5.2)
            yield ctl.seg(True, SYN)
            yield ctl.seg(False, RST | ACK)  # acknowledges the SYN
            return
        yield from ctl.handshake()

        def cmd(line: str) -> Iterator[bytes]:
            self.commands[line.split(" ", 1)[0].upper()] += 1
            yield ctl.seg(True, PSH | ACK, line.encode() + b"\r\n")

        def reply(line: str) -> Iterator[bytes]:
            yield ctl.seg(False, PSH | ACK, line.encode() + b"\r\n")
            yield ctl.seg(True, ACK)

        yield from reply("220 (vsFTPd 3.0.3)")
        yield from cmd("USER anonymous")
        yield from reply("331 Please specify the password.")
        yield from cmd("PASS guest@example.com")
        if kind == "badpw":
            yield from reply("530 Login incorrect.")
            yield from cmd("QUIT")
            yield from reply("221 Goodbye.")
            yield from ctl.close()
            return
        yield from reply("230 Login successful.")
        yield from cmd("TYPE I")
        yield from reply("200 Switching to Binary mode.")
        for _ in range(r.choice((1, 1, 2))):
            yield from self._transfer(kind, ctl, cip, sip, cmd, reply)
        yield from cmd("QUIT")
        yield from reply("221 Goodbye.")
        yield from ctl.close()

    def _transfer(self, kind: str, ctl: Tcp, cip: bytes, sip: bytes, cmd: Any, reply: Any
                  ) -> Iterator[bytes]:
        r = self.rng
        verb = r.choice(("LIST", "RETR pub/file.bin"))
        dport = r.randrange(30000, 31000)
        if kind in ("pasv", "pasv-dead", "pasv-private"):
            yield from cmd("PASV")
            announced = _ip(192, 168, 1, 20) if kind == "pasv-private" else sip
            h = ",".join(str(b) for b in announced)
            yield from reply(f"227 Entering Passive Mode ({h},{dport >> 8},{dport & 255}).")
            data = Tcp(r, cip, self._eph(), announced, dport)
        elif kind == "epsv":
            yield from cmd("EPSV")
            yield from reply(f"229 Entering Extended Passive Mode (|||{dport}|)")
            data = Tcp(r, cip, self._eph(), sip, dport)
        else:  # active: the server connects from port 20 (RFC 959 §3.2)
            cport = self._eph()
            h = ",".join(str(b) for b in cip)
            yield from cmd(f"PORT {h},{cport >> 8},{cport & 255}")
            yield from reply("200 PORT command successful. Consider using PASV.")
            data = Tcp(r, sip, 20, cip, cport)
        if kind in ("pasv-dead", "pasv-private"):  # filtered: the SYN is never answered
            for _ in range(3):
                yield data.seg(True, SYN)
                data.seq[0] = (data.seq[0] - 1) & 0xFFFFFFFF
            yield from cmd(verb)
            yield from reply("425 Failed to establish connection.")
            return
        yield from cmd(verb)
        if kind == "port-rst":  # the client's firewall rejects the server's data SYN
            yield data.seg(True, SYN)
            yield data.seg(False, RST | ACK)
            yield from reply("425 Failed to establish connection.")
            return
        yield from data.handshake()
        yield from reply("150 Here comes the directory listing.")
        sender = kind == "port"  # who sends the bytes: the connection's originator or not
        size = r.randrange(64, 1200) * (1 if verb == "LIST" else r.randrange(2, 40))
        for i, piece in enumerate(_mss(b"d" * size)):  # RETR: full-size segments
            yield data.seg(sender, ACK if len(piece) == MSS else PSH | ACK, piece)
            if i % 2 or len(piece) < MSS:
                yield data.seg(not sender, ACK)
        yield from data.close()
        yield from reply("226 Directory send OK.")

    # background ------------------------------------------------------------------------------

    def https(self) -> Iterator[bytes]:
        """A TLS 1.2/1.3 download as a browser sees it: handshake, then full-size segments
        (MSS 1448) carrying 16 KiB application-data records, the client ACKing every other
        segment (RFC 9293 §3.8.6.3 delayed ACKs)."""
        r = self.rng
        conn = Tcp(r, self._client(), self._eph(), _ip(198, 51, 100, r.randrange(1, 250)), 443)
        yield from conn.handshake()
        yield conn.seg(True, PSH | ACK, _tls(0x16, 512))  # ClientHello
        for piece in _mss(_tls(0x16, 4000)):  # ServerHello, certificate chain, Finished
            yield conn.seg(False, ACK if len(piece) == MSS else PSH | ACK, piece)
        yield conn.seg(True, PSH | ACK, _tls(0x14, 1) + _tls(0x16, 48))  # client Finished
        stream = b"".join(_tls(0x17, 16384) for _ in range(1 + r.randrange(5, 200) // 11))
        for i, piece in enumerate(_mss(stream[: MSS * r.randrange(5, 200)])):
            yield conn.seg(False, ACK if len(piece) == MSS else PSH | ACK, piece)
            if i % 2:
                yield conn.seg(True, ACK)
        yield from conn.close()

    def dns(self) -> Iterator[bytes]:
        r = self.rng
        cip, sip, cport = self._client(), _ip(10, 0, 0, 53), self._eph()
        qname = b"\x03www\x07example\x03com\x00"
        query = struct.pack("!HHHHHH", r.getrandbits(16), 0x0100, 1, 0, 0, 0) + qname + b"\0\1\0\1"
        answer = query[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + query[12:]
        answer += b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04\x5d\xb8\xd8\x22"
        for src, dst, sp, dp, mac, payload in (
            (cip, sip, cport, 53, _MAC_S, query), (sip, cip, 53, cport, _MAC_C, answer)
        ):
            yield _UDP_FRAME.pack(
                mac, mac, 0x0800, 0x45, 0, 28 + len(payload), 1, 0, 64, 17, 0, src, dst,
                sp, dp, 8 + len(payload), 0,
            ) + payload


def generate(path: Path, packets: int, seed: int) -> Counter[str]:
    """Write `packets` frames to a classic pcap; returns the FTP commands it contains."""
    traffic = Traffic(seed)
    rng = random.Random(seed + 1)
    makers = (traffic.ftp, traffic.https, traffic.dns)
    pools: list[list[Iterator[bytes]]] = [[m() for _ in range(ACTIVE_FLOWS)] for m in makers]
    t_us = 1_700_000_000 * 1_000_000
    out: list[bytes] = []
    with path.open("wb", buffering=1 << 20) as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        written = 0
        while written < packets:
            x = rng.random()
            which = 0 if x < FTP_SHARE else (1 if x < FTP_SHARE + HTTPS_SHARE else 2)
            pool = pools[which]
            i = rng.randrange(ACTIVE_FLOWS)
            frame = next(pool[i], None)
            if frame is None:
                pool[i] = makers[which]()
                continue
            t_us += 1 + rng.randrange(40)
            out.append(_REC.pack(t_us // 1_000_000, t_us % 1_000_000, len(frame), len(frame)))
            out.append(frame)
            written += 1
            if len(out) >= 20_000:
                fh.write(b"".join(out))
                out.clear()
        fh.write(b"".join(out))
    # Sessions cut off by the end of the capture still count what they sent.
    return traffic.commands


# -- measured runs ---------------------------------------------------------------------------


def _measure(cmd: list[str], stdout_path: Path) -> dict[str, Any]:
    """Run one command: wall time, CPU time and that child's own peak RSS.

    Peak RSS comes from /usr/bin/time (GNU time, `%M`). Not from wait4() of a child of this
    process: Linux folds the parent's RSS at fork/vfork time into the child's ru_maxrss at
    exec, so a big parent would inflate every figure.
    """
    gnu_time = shutil.which("time") or "/usr/bin/time"
    stats = stdout_path.with_suffix(".time")
    wrapped = [gnu_time, "-f", "%M %U %S", "-o", str(stats), *cmd]
    with stdout_path.open("wb") as out:
        start = time.perf_counter()
        done = subprocess.run(wrapped, stdout=out, stderr=subprocess.PIPE, check=False)
        seconds = time.perf_counter() - start
    fields = stats.read_text().split()[-3:] if stats.exists() else ["0", "0", "0"]
    return {
        "cmd": " ".join(cmd[:4]) + (" ..." if len(cmd) > 4 else ""),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(float(fields[1]) + float(fields[2]), 3),
        "peak_rss_mib": round(int(fields[0]) / 1024, 1),
        "exit": done.returncode,
        "stderr": done.stderr.decode(errors="replace")[-500:],
    }


def _worker(mode: str, path: str) -> None:
    """Inside a child: one pass over the file in `mode`, result as JSON on stdout."""
    from ftptrace.net.decode import decode
    from ftptrace.net.pcap import open_capture
    from ftptrace.net.prefilter import LivePorts, PortPrefilter

    start = time.perf_counter()
    cpu = time.process_time()
    n = kept = 0
    with open_capture(path) as reader:
        if mode == "read":
            for _ in reader:
                n += 1
        elif mode == "decode":
            for frame, ts, lt, data, _o, _i in reader:
                n += 1
                if decode(lt, data, ts, frame) is not None:
                    kept += 1
        else:  # filtered: the reader as replay sets it up (batch prefilter, helper process)
            ports = LivePorts({21})
            reader.keep = reader.keep_batch = PortPrefilter(ports)
            for frame, ts, lt, data, _o, _i in reader:
                kept += decode(lt, data, ts, frame, ports) is not None
            n = reader.packets
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    json.dump(
        {"frames": n, "kept": kept, "inner_seconds": seconds, "inner_cpu_seconds": cpu}, sys.stdout
    )


def _ftptrace_cmd() -> list[str]:
    exe = shutil.which("ftptrace")
    return [exe] if exe else [sys.executable, "-m", "ftptrace"]


def _tshark_counts(tsv: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    with tsv.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            cols = line.rstrip("\n").split("\t")
            if len(cols) > 1 and cols[1]:
                for verb in cols[1].split(","):
                    counts[verb.upper()] += 1
    return counts


def _replay_counts(doc_path: Path) -> Counter[str]:
    doc = json.loads(doc_path.read_text(encoding="utf-8"))
    counts: Counter[str] = Counter()
    for session in doc.get("sessions", []):
        for c in session.get("commands", []):
            verb = c.get("command") if isinstance(c, dict) else str(c).split(" ", 1)[0]
            counts[str(verb).upper()] += 1
    return counts


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median time, with every run's seconds beside it."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    run = dict(ordered[(len(ordered) - 1) // 2])
    run["all_seconds"] = [r["seconds"] for r in runs]
    return run


def _replay_vs_tshark(
    packets: int, cap: Path, args: argparse.Namespace, result: dict[str, Any]
) -> None:
    """ftptrace replay and tshark on the same file, alternately `--repeat` times (the
    machine is shared: alternating spreads its load over both), compared by median."""
    tshark = shutil.which("tshark") and not args.no_tshark
    doc = OUT / f"ftptrace-{packets}.json"
    tsv = OUT / f"tshark-{packets}.tsv"
    cmd = ["tshark", "-n", "-r", str(cap), "-Y",
           "ftp || tcp.flags.syn==1 || tcp.flags.reset==1", "-T", "fields",
           "-e", "frame.number", "-e", "ftp.request.command", "-e", "ftp.request.arg",
           "-e", "ftp.response.code", "-e", "ftp.passive.ip", "-e", "ftp.passive.port",
           "-e", "ftp.active.cip", "-e", "ftp.active.port"]
    replays: list[dict[str, Any]] = []
    tsharks: list[dict[str, Any]] = []
    for _ in range(max(1, args.repeat)):
        replays.append(_measure([*_ftptrace_cmd(), "replay", "--json", str(cap)], doc))
        if tshark:
            tsharks.append(_measure(cmd, tsv))
    run = _median_run(replays)
    run["packets_per_s"] = round(packets / run["seconds"])
    try:
        replay_counts = _replay_counts(doc)
        run["sessions"] = len(json.loads(doc.read_text()).get("sessions", []))
    except (ValueError, OSError) as exc:
        replay_counts = Counter()
        run["error"] = f"no JSON from ftptrace replay: {exc}"
    result["runs"]["replay"] = run
    result["replay_commands"] = dict(sorted(replay_counts.items()))
    if tsharks:
        trun = _median_run(tsharks)
        trun["packets_per_s"] = round(packets / trun["seconds"])
        result["runs"]["tshark"] = trun
        tshark_counts = _tshark_counts(tsv)
        result["tshark_commands"] = dict(sorted(tshark_counts.items()))
        result["same_commands"] = tshark_counts == replay_counts
        result["ratio_tshark_over_ftptrace"] = round(trun["seconds"] / run["seconds"], 2)
        result["ratios_per_round"] = [
            round(t["seconds"] / r["seconds"], 2) for r, t in zip(replays, tsharks, strict=True)
        ]


def run_size(packets: int, args: argparse.Namespace) -> dict[str, Any]:
    OUT.mkdir(parents=True, exist_ok=True)
    cap = OUT / f"replay-{packets}.pcap"
    t0 = time.perf_counter()
    truth = generate(cap, packets, args.seed)
    result: dict[str, Any] = {
        "packets": packets,
        "file_mib": round(cap.stat().st_size / 2**20, 1),
        "generate_seconds": round(time.perf_counter() - t0, 1),
        "generated_commands": dict(sorted(truth.items())),
        "runs": {},
    }
    me = [sys.executable, str(Path(__file__).resolve())]
    for mode in ("read", "decode", "filtered"):
        out = OUT / f"{mode}-{packets}.json"
        run = _measure([*me, "--_worker", mode, str(cap)], out)
        run.update(json.loads(out.read_text() or "{}"))
        if run.get("inner_seconds"):
            run["packets_per_s"] = round(run["frames"] / run["inner_seconds"])
            run["packets_per_cpu_s"] = round(run["frames"] / run["inner_cpu_seconds"])
        result["runs"][mode] = run
    if not args.decode_only:
        _replay_vs_tshark(packets, cap, args, result)
    (OUT / f"results-{packets}.json").write_text(json.dumps(result, indent=2) + "\n")
    if not args.keep:
        cap.unlink()
    return result


def _report(results: list[dict[str, Any]]) -> None:
    print(f"{'packets':>10} {'file MiB':>9} {'run':>9} {'seconds':>8} {'pkt/s':>10} "
          f"{'pkt/cpu-s':>10} {'peak RSS MiB':>13}")
    for res in results:
        for name, run in res["runs"].items():
            pps = run.get("packets_per_s")
            cps = run.get("packets_per_cpu_s") or round(res["packets"] / run["cpu_seconds"])
            print(f"{res['packets']:>10} {res['file_mib']:>9} {name:>9} {run['seconds']:>8} "
                  f"{pps if pps is not None else '-':>10} {cps:>10} {run['peak_rss_mib']:>13}")
        if "ratio_tshark_over_ftptrace" in res:
            print(f"{'':>10} tshark/ftptrace time ratio (medians): "
                  f"{res['ratio_tshark_over_ftptrace']}; per round: {res['ratios_per_round']}; "
                  f"same FTP commands: {res['same_commands']}")
            print(f"{'':>10} replay seconds: {res['runs']['replay']['all_seconds']}; "
                  f"tshark seconds: {res['runs']['tshark']['all_seconds']}")
        if "replay_commands" in res:
            ok = res["replay_commands"] == res["generated_commands"]
            print(f"{'':>10} ftptrace commands == generated: {ok}")
            if not ok or not res.get("same_commands", True):
                print(f"{'':>10} generated: {res['generated_commands']}")
                print(f"{'':>10} ftptrace:  {res['replay_commands']}")
                print(f"{'':>10} tshark:    {res.get('tshark_commands')}")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--_worker":
        _worker(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=2_000_000)
    parser.add_argument("--sizes", help="comma-separated packet counts, e.g. 200000,2000000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--decode-only", action="store_true",
                        help="only the read/decode passes (no ftptrace replay, no tshark)")
    parser.add_argument("--no-tshark", action="store_true")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of replay then tshark; medians are compared (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the generated captures")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [args.packets]
    results = [run_size(n, args) for n in sizes]
    _report(results)


if __name__ == "__main__":
    main()
