"""One L4S run: namespaces sender → bottleneck → delay line → receiver, one classic TCP flow and one
scalable UDP flow for `seconds`, everything each part measured, returned as one dict.

    <p>-snd ─ <p>-m1 (bottleneck: rate, buffer, AQM) ─ <p>-m2 (linkem: delay each way) ─ <p>-rcv
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .bottleneck import Shape, build
from .procs import NsProcess
from .topo import RCV_IP, ns_line, sh

TCP_PORT, UDP_PORT = 5201, 5300


@dataclass(frozen=True)
class Setup:
    rate_bps: float = 12e6
    delay_s: float = 0.005  # one way, each direction
    buffer_bytes: int = 375_000  # 250 ms at 12 Mbit/s, the same for every bottleneck
    seconds: float = 30.0
    web: bool = False  # classic flow: web-like objects instead of bulk
    seed: int = 1


def _read(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text())) if path.exists() else {}


def run_once(bottleneck: str, setup: Setup, prefix: str = "l4s") -> dict[str, Any]:
    """One run; raises BottleneckAbsent when the bottleneck cannot be built here."""
    with ns_line(prefix, 2) as line, tempfile.TemporaryDirectory(prefix="l4s-run-") as tmp:
        out = Path(tmp)
        for ns in (line.snd, line.rcv):
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.tcp_ecn=0")  # classic = Not-ECT
        delay_ms = str(setup.delay_s * 1e3)
        delay = NsProcess(line.middle[1], "srchain_net.linkem", "in0", "out0", "--delay-ms", delay_ms,
                          "--reverse-delay-ms", delay_ms, "--report", str(out / "delay.json"))
        procs = [delay]
        neck = None
        try:
            delay.wait_ready()
            neck = build(bottleneck, Shape(line.middle[0], setup.rate_bps, setup.buffer_bytes, setup.seed))
            tcp_srv = NsProcess(line.rcv, "srchain_demo.l4s.tcpflow", "server", "--port", str(TCP_PORT),
                                "--report", str(out / "tcp_server.json"))
            udp_rcv = NsProcess(line.rcv, "srchain_demo.l4s.scalable", "recv", "--port", str(UDP_PORT),
                                "--report", str(out / "udp_recv.json"))
            procs += [tcp_srv, udp_rcv]
            tcp_srv.wait_ready()
            udp_rcv.wait_ready()
            secs = str(setup.seconds)
            tcp_cli = NsProcess(line.snd, "srchain_demo.l4s.tcpflow", "client", "--dst", RCV_IP, "--port",
                                str(TCP_PORT), "--mode", "web" if setup.web else "bulk", "--seconds", secs,
                                "--seed", str(setup.seed), "--report", str(out / "tcp_client.json"))
            udp_snd = NsProcess(line.snd, "srchain_demo.l4s.scalable", "send", "--dst", RCV_IP, "--port",
                                str(UDP_PORT), "--seconds", secs, "--report", str(out / "udp_send.json"))
            procs += [tcp_cli, udp_snd]
            tcp_cli.wait_ready()
            udp_snd.wait_ready()
            started = time.monotonic()
            realtime_offset = time.time() - started  # UDP records carry CLOCK_REALTIME
            for p in (tcp_cli, udp_snd):
                p.wait(setup.seconds + 15)
            time.sleep(0.3)  # the last packets drain through the delay line
            elapsed = time.monotonic() - started
        finally:
            bottleneck_data = neck.finish() if neck is not None else {}
            for p in reversed(procs):
                p.stop()
        return {"bottleneck": bottleneck, "setup": setup.__dict__, "elapsed_s": elapsed,
                "start_monotonic": started, "realtime_offset_s": realtime_offset,
                "bottleneck_data": bottleneck_data, "tcp_server": _read(out / "tcp_server.json"),
                "tcp_client": _read(out / "tcp_client.json"), "udp_recv": _read(out / "udp_recv.json"),
                "udp_send": _read(out / "udp_send.json"), "delay_line": _delay_summary(out / "delay.json")}


def _delay_summary(path: Path) -> dict[str, Any]:
    report = _read(path)
    out: dict[str, Any] = {}
    for d in ("forward", "reverse"):
        late = sorted(report.get(d, {}).get("lateness_s", [])) or [0.0]
        out[d] = {"sent": report.get(d, {}).get("sent", 0), "lateness_p50_s": late[len(late) // 2],
                  "lateness_p99_s": late[int(len(late) * 0.99)]}
    return out
