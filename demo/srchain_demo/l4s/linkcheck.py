"""Measure the link emulator from outside: probes through `snd → linkem → rcv` (three namespaces), compared
with what it was configured to do. Used by bench/linkem.py and the netns tests."""

from __future__ import annotations

import json
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srchain_net.linkpath import LinkParams

from .probe import UDP_IP_ETH_OVERHEAD, Arrival, Receiver, send
from .procs import NsProcess
from .topo import RCV_IP, ns_line, sh

PORT = 5201


@dataclass
class Trial:
    params: LinkParams
    sent: int
    payload: int
    arrivals: list[Arrival]
    report: dict[str, Any]  # the emulator's own report (linkem.run)

    @property
    def frame_bytes(self) -> int:
        return self.payload + UDP_IP_ETH_OVERHEAD

    def delay_errors_s(self) -> list[float]:
        """Measured one-way delay minus what the emulator should add (delay + one frame's serialisation)."""
        ser = self.frame_bytes * 8 / self.params.rate_bps if self.params.rate_bps else 0.0
        return [a.delay_s - self.params.delay_s - ser for a in self.arrivals]

    def rate_bps(self) -> float:
        """Receive rate over the train (first to last arrival), counting Ethernet frame bytes."""
        times = sorted(a.received_ns for a in self.arrivals)
        span = (times[-1] - times[0]) / 1e9
        return (len(times) - 1) * self.frame_bytes * 8 / span if span > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        err = sorted(self.delay_errors_s())
        late = sorted(self.report["forward"]["lateness_s"]) or [0.0]
        return {"delay_ms": self.params.delay_s * 1e3, "rate_mbit": self.params.rate_bps / 1e6,
                "loss": self.params.loss, "sent": self.sent, "received": len(self.arrivals),
                "lost_by_emulator": self.report["forward"]["lost"],
                "delay_error_ms": {"mean": statistics.fmean(err) * 1e3, "p50": _pct(err, 50) * 1e3,
                                   "p99": _pct(err, 99) * 1e3, "min": err[0] * 1e3},
                "emulator_lateness_ms": {"p50": _pct(late, 50) * 1e3, "p99": _pct(late, 99) * 1e3},
                "measured_rate_mbit": self.rate_bps() / 1e6}


def _pct(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q / 100))]


def bridge_trial(prefix: str, count: int, payload: int, gap_s: float) -> list[Arrival]:
    """The same probes through a kernel bridge instead of the emulator: the path's own delay floor."""
    with ns_line(prefix, 1) as line:
        mid = line.middle[0]
        sh("ip", "-n", mid, "link", "add", "br0", "type", "bridge")
        for dev in ("in0", "out0"):
            sh("ip", "-n", mid, "link", "set", dev, "master", "br0")
        sh("ip", "-n", mid, "link", "set", "br0", "up")
        rx = Receiver(line.rcv, PORT)
        try:
            send(line.snd, (RCV_IP, PORT), count, payload, gap_s)
            return rx.collect(count, quiet_s=1.0)
        finally:
            rx.close()


def trial(prefix: str, params: LinkParams, count: int, payload: int, gap_s: float) -> Trial:
    """One probe train through a fresh emulator (namespaces built and removed here)."""
    with ns_line(prefix, 1) as line, tempfile.TemporaryDirectory(prefix="linkem-") as tmp:
        report_path = Path(tmp) / "report.json"
        emu = NsProcess(line.middle[0], "srchain_net.linkem", "in0", "out0",
                        "--delay-ms", str(params.delay_s * 1e3), "--jitter-ms", str(params.jitter_s * 1e3),
                        "--loss", str(params.loss), "--rate-mbit", str(params.rate_bps / 1e6),
                        "--limit-bytes", str(params.limit_bytes), "--seed", str(params.seed),
                        "--report", str(report_path))
        emu.wait_ready()
        rx = Receiver(line.rcv, PORT)
        try:
            send(line.snd, (RCV_IP, PORT), count, payload, gap_s)
            arrivals = rx.collect(count, quiet_s=1.0 + params.delay_s)
        finally:
            rx.close()
            code = emu.stop()
        if code != 0 or not report_path.exists():
            raise RuntimeError(f"link emulator exited {code}: {emu.stderr()}")
        return Trial(params, count, payload, arrivals, json.loads(report_path.read_text()))
