"""SR proxy latency: where the tail comes from, with the harness's own floor measured in the same run.

Topology (namespaces created and removed here; the forwarding bench's lab plus a direct pair):

    spg<pid> g0 ── sr0 spq<pid> (proxy, or a kernel bridge for the floor) vnf0 ── v0 spr<pid>
    spg<pid> gf0 ─────────────────────────────────────────────────────────── rf0 spr<pid>   (direct floor)

The generator (this process, CPU 0) sends 82-byte Eth/MPLS(2 labels)/IPv4/UDP frames over 64 flows at a
paced rate; every --every-th frame is a probe (UDP port 9999, a sequence number in the payload). Three
AF_PACKET taps, each with a BPF filter keeping only probes and SO_TIMESTAMPNS, are read after the run:

    g0 out   kernel time the generator's frame is handed to the veth (dev_queue_xmit_nit)
    sr0 in   kernel time the frame is queued on the proxy's receive interface (netif_rx, generator's CPU)
    v0 in    kernel time the proxy's output is queued on the sink's interface (netif_rx inside the proxy's
             send(), so it is the proxy's transmit time, not the sink's wake-up)

Reported per probe, matched by sequence number: "proxy" = v0 - sr0 (the proxy alone: the wake-up, the
ring walk, the rewrite, the TX flush), "path" = v0 - g0 (what bench/proxy_forwarding.py reports). Floors
in the same run, same generator, same rate: "veth" = the direct pair (stamping + one veth hop) and
"bridge" = sr0 and vnf0 enslaved to a Linux bridge in the proxy's namespace (kernel forwarding over the
same two veth hops, no user space, no wake-up on the other CPU). Added latency = proxy-path minus floor.

Run as root:
  .venv/bin/python bench/proxy_latency.py --rates 100000,220000 --variants before,spin --modes static,dynamic
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_forwarding import (  # a sibling bench script, not a package
    G_MAC,
    MARK_PORT,
    MAX_BURST,
    NS_G,
    NS_Q,
    NS_R,
    SINK_HELP,
    SO_TIMESTAMPNS,
    V0_MAC,
    Lab,
    attach_port_filter,
    frame,
    nsx,
    send_paced,
    sh,
    socket_in,
    stamps,
    stop,
)

MPLS_PORT_OFF = 14 + 8 + 20 + 2  # UDP destination port with two labels
IP_PORT_OFF = 14 + 20 + 2  # after the pop
MPLS_SEQ_OFF = 14 + 8 + 28
IP_SEQ_OFF = 14 + 28

# proxy variants: name -> (extra config keys, taskset CPU list of the daemon)
VARIANTS: dict[str, tuple[dict, str]] = {
    "before": ({"spin_us": 0}, "1"),  # the previous increment's loop: sleep in epoll as soon as idle
    "spin50": ({"spin_us": 50}, "1"),  # bounded busy poll before sleeping
    "spin": ({"spin_us": 100}, "1"),  # the default since this change
    "spin-cpu": ({"spin_us": 100, "cpus": [1]}, "0,1"),  # affinity from the config, not from taskset
    "nice": ({"spin_us": 0, "nice": -10}, "1"),  # a larger CFS share, no spin
    "spin-nice": ({"spin_us": 100, "nice": -10}, "1"),
    "samecpu": ({"spin_us": 0}, "0"),  # proxy on the generator's CPU (no cross-CPU wake-up, shares a core)
}


def tap(ns: str, ifname: str, port_off: int, outgoing: bool = False) -> socket.socket:
    s = socket_in(ns, ifname, outgoing=outgoing)
    attach_port_filter(s, port_off, MARK_PORT)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.setsockopt(socket.SOL_SOCKET, 33, 256 << 20)  # SO_RCVBUFFORCE: hold every probe of a run
    return s


def paced(gen: socket.socket, frames: list[bytearray], probe: bytearray | None, rate: float, count: int,
          every: int, slips: list[tuple[int, float]] | None = None) -> float:
    """Send count frames at rate pps, every `every`-th one the probe carrying its index; no catch-up bursts
    beyond MAX_BURST frames (proxy_forwarding.send_paced). Returns seconds."""
    n = len(frames)

    def pick(i: int) -> bytearray:
        if probe is not None and i % every == 0:
            struct.pack_into("!I", probe, MPLS_SEQ_OFF, i)
            return probe
        return frames[i % n]

    return send_paced(gen, frames, rate, count, max_burst=MAX_BURST, slips=slips, pick=pick)[1]


def pct(d: list[float]) -> dict:
    if not d:
        return {"n": 0}
    d = sorted(d)
    at = lambda q: round(d[min(len(d) - 1, int(len(d) * q))], 1)  # noqa: E731
    return {"n": len(d), "p50": at(0.5), "p99": at(0.99), "p999": at(0.999), "max": round(d[-1], 1)}


def datapath_thread(lab: Lab) -> Path | None:
    """/proc path of the daemon's data-path thread (named srchain-dp by the daemon)."""
    cfg = str(lab.tmp / "proxy.json").encode()
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or cfg not in (proc / "cmdline").read_bytes():
                continue
            for task in (proc / "task").iterdir():
                if (task / "comm").read_text().strip() == "srchain-dp":
                    return task
        except OSError:
            continue
    return None


def schedstat(task: Path | None) -> tuple[int, int, int]:
    """(ns on CPU, ns runnable but waiting for a CPU, times scheduled in) of a thread."""
    if task is None:
        return (0, 0, 0)
    a, b, c = (task / "schedstat").read_text().split()
    return (int(a), int(b), int(c))


def cpu_ticks(cpu: int) -> tuple[int, int]:
    """(busy, all) jiffies of one CPU from /proc/stat (busy = everything but idle and iowait)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            v = [int(x) for x in line.split()[1:]]
            return sum(v) - v[3] - v[4], sum(v)
    return 0, 0


def ksoftirqd(cpu: int) -> Path | None:
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().strip() == f"ksoftirqd/{cpu}":
                return proc
        except OSError:
            continue
    return None


KSOFTIRQD1 = ksoftirqd(1)


def one_run(gen: socket.socket, frames: list[bytearray], rate: float, seconds: float, every: int,
            taps: dict[str, tuple[socket.socket, int]], pairs: dict[str, tuple[str, str]],
            task: Path | None = None) -> dict:
    paced(gen, frames, None, rate, int(rate * 0.5), every)  # warm-up: caches, ring pages, CPU frequency
    time.sleep(0.1)
    for s, _off in taps.values():  # drop what the warm-up left
        _flush(s)
    probe = frames[0][:]
    struct.pack_into("!H", probe, MPLS_PORT_OFF, MARK_PORT)
    s0, k0, c0 = schedstat(task), schedstat(KSOFTIRQD1), cpu_ticks(1)
    slips: list[tuple[int, float]] = []
    took = paced(gen, frames, probe, rate, int(rate * seconds), every, slips)
    s1, k1, c1 = schedstat(task), schedstat(KSOFTIRQD1), cpu_ticks(1)
    time.sleep(0.3)
    got = {name: stamps(s, off) for name, (s, off) in taps.items()}
    out: dict = {"achieved_kpps": round(rate * seconds / took / 1000, 1),
                 "slips": {"n": len(slips), "ms": round(sum(s for _k, s in slips) * 1000, 1)}}
    if task is not None:  # the data-path thread during the run: its CPU share, its wait for a CPU, wake-ups
        out["dp"] = {"cpu": round((s1[0] - s0[0]) / 1e9 / took, 3), "waiting": round((s1[1] - s0[1]) / 1e9 / took, 3),
                     "sched_in_per_s": round((s1[2] - s0[2]) / took),
                     # CPU 1 as a whole (the proxy's CPU) and the kernel's deferred softirq thread on it
                     "cpu1_busy": round((c1[0] - c0[0]) / max(c1[1] - c0[1], 1), 3),
                     "ksoftirqd1": round((k1[0] - k0[0]) / 1e9 / took, 3)}
    for label, (a, b) in pairs.items():
        d = [(got[b][k] - got[a][k]) / 1000 for k in got[b] if k in got[a]]
        out[label] = pct(d)
        out[label]["lost"] = len(got[a]) - len(d)
    arrive = got.get("q") or got.get("r")
    if arrive:  # how late each probe reached the proxy against the paced schedule (µs, slips included): a
        # burst from the generator (up to MAX_BURST frames) queues in the proxy's ring
        shift = {}
        acc, queue = 0.0, list(slips)
        for k in sorted(arrive):
            while queue and queue[0][0] <= k:
                acc += queue.pop(0)[1]
            shift[k] = acc
        late = {k: t - (k / rate + shift[k]) * 1e9 for k, t in arrive.items()}
        base = min(late.values())
        out["arrival_lag"] = pct([(v - base) / 1000 for v in late.values()])
    return out


def _flush(s: socket.socket) -> None:
    s.setblocking(False)
    while True:
        try:
            s.recv(128)
        except BlockingIOError:
            return


def median_run(runs: list[dict], label: str) -> dict:
    ok = sorted((r[label] for r in runs if r[label].get("n")), key=lambda x: x["p99"])
    return ok[len(ok) // 2] if ok else {"n": 0}


def measure(gen, frames, rate, args, taps, pairs) -> dict:
    runs = [one_run(gen, frames, rate, args.seconds, args.every, taps, pairs) for _ in range(args.repeat)]
    for r in runs:
        print("      " + json.dumps(r), flush=True)
    return {"runs": runs, **{label: median_run(runs, label) for label in pairs}}


def floors(lab: Lab, frames_by_mode: dict, rates: list[float], args) -> dict:
    res: dict = {}
    # direct pair: one veth hop, stamped like the proxy path
    sh("ip", "link", "add", "gf0", "netns", NS_G, "address", G_MAC, "type", "veth", "peer", "name", "rf0",
       "netns", NS_R, "address", V0_MAC)
    nsx(NS_G, "ip", "link", "set", "gf0", "up")
    nsx(NS_R, "ip", "link", "set", "rf0", "up")
    gen = socket_in(NS_G, "gf0", receive=False)
    gen.setblocking(True)
    taps = {"g": (tap(NS_G, "gf0", MPLS_PORT_OFF, outgoing=True), MPLS_SEQ_OFF),
            "r": (tap(NS_R, "rf0", MPLS_PORT_OFF), MPLS_SEQ_OFF)}
    try:
        for rate in rates:
            print(f"== floor veth at {rate / 1000:.0f} kpps", flush=True)
            res[f"veth@{rate:.0f}"] = measure(gen, frames_by_mode["static"], rate, args, taps, {"path": ("g", "r")})
    finally:
        for s, _ in taps.values():
            s.close()
        gen.close()
        nsx(NS_G, "ip", "link", "del", "gf0")
    # kernel bridge in the proxy's namespace: same two veth hops as the proxy path, no user space
    nsx(NS_Q, "ip", "link", "add", "spbr0", "type", "bridge")
    for ifname in ("sr0", "vnf0"):
        nsx(NS_Q, "ip", "link", "set", ifname, "master", "spbr0")
    nsx(NS_Q, "ip", "link", "set", "spbr0", "up")
    taps = {"g": (tap(NS_G, "g0", MPLS_PORT_OFF, outgoing=True), MPLS_SEQ_OFF),
            "q": (tap(NS_Q, "sr0", MPLS_PORT_OFF), MPLS_SEQ_OFF),
            "r": (tap(NS_R, "v0", MPLS_PORT_OFF), MPLS_SEQ_OFF)}
    bridged = [f[:] for f in frames_by_mode["static"]]
    for f in bridged:
        f[0:6] = bytes.fromhex(V0_MAC.replace(":", ""))  # unknown unicast: flooded to vnf0, accepted by v0
    try:
        time.sleep(0.5)
        for rate in rates:
            print(f"== floor bridge at {rate / 1000:.0f} kpps", flush=True)
            res[f"bridge@{rate:.0f}"] = measure(lab.gen, bridged, rate, args, taps,
                                                {"proxy": ("q", "r"), "path": ("g", "r")})
    finally:
        for s, _ in taps.values():
            s.close()
        nsx(NS_Q, "ip", "link", "del", "spbr0")
        time.sleep(0.3)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="100000,220000", help="offered rates, pps")
    ap.add_argument("--variants", default="before,spin", help=f"proxy variants: {', '.join(VARIANTS)}")
    ap.add_argument("--modes", default="static,dynamic")
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds per run")
    ap.add_argument("--repeat", type=int, default=3, help="runs per point (the median run is reported)")
    ap.add_argument("--every", type=int, default=20, help="one probe per this many frames")
    ap.add_argument("--fast-path", default="compiled")
    ap.add_argument("--no-floor", action="store_true")
    ap.add_argument("--sink-rps", action="store_true",
                    help="steer the sink's receive processing (v0) to CPU 0 with RPS, as a NIC's TX would take it "
                         "off the proxy's CPU (the v0 timestamp stays the proxy's send: taken before the queue)")
    ap.add_argument("--sink", choices=("l2", "vnf", "ip"), default="l2", help=SINK_HELP)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("proxy_latency: skipped, needs root (network namespaces)")
        return
    os.sched_setaffinity(0, {0})
    rates = [float(r) for r in args.rates.split(",")]
    modes = args.modes.split(",")
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    print(f"load average before: {' '.join(load_before)}", flush=True)
    results: dict = {"load_before": load_before, "args": vars(args)}
    frames_by_mode = {m: [frame(label, sport=1000 + i) for i in range(64)]
                      for m, label in (("static", 16001), ("dynamic", 16003))}
    with Lab(args.sink) as lab:
        if args.sink_rps:  # `ip netns exec` mounts the namespace's own /sys
            nsx(NS_R, "sh", "-c", "echo 1 > /sys/class/net/v0/queues/rx-0/rps_cpus")
        if not args.no_floor:
            results.update(floors(lab, frames_by_mode, rates, args))
        taps = {"g": (tap(NS_G, "g0", MPLS_PORT_OFF, outgoing=True), MPLS_SEQ_OFF),
                "q": (tap(NS_Q, "sr0", MPLS_PORT_OFF), MPLS_SEQ_OFF),
                "r": (tap(NS_R, "v0", IP_PORT_OFF), IP_SEQ_OFF)}
        pairs = {"proxy": ("q", "r"), "path": ("g", "r")}
        runs: dict[str, list[dict]] = {}
        try:
            # variants interleaved run by run (the machine's load changes over minutes): a restart per run
            for rep in range(args.repeat):
                for variant in args.variants.split(","):
                    extra, cpus = VARIANTS[variant]
                    proc = lab.start_proxy(args.fast_path, extra=extra, cpus=cpus)
                    try:
                        task = datapath_thread(lab)
                        for mode in modes:
                            for rate in rates:
                                run = one_run(lab.gen, frames_by_mode[mode], rate, args.seconds, args.every,
                                              taps, pairs, task)
                                print(f"  [{rep}] {variant} {mode} {rate / 1000:.0f} kpps: {json.dumps(run)}",
                                      flush=True)
                                runs.setdefault(f"{variant}/{mode}@{rate:.0f}", []).append(run)
                    finally:
                        stop(proc)
            for name, rs in runs.items():
                results[name] = {"runs": rs, **{label: median_run(rs, label) for label in pairs}}
        finally:
            for s, _ in taps.values():
                s.close()
    results["load_after"] = Path("/proc/loadavg").read_text().split()[:3]
    print(f"\n== summary (median of {args.repeat} runs by p99; us; load {' '.join(load_before)} -> "
          f"{' '.join(results['load_after'])})")
    for name, r in results.items():
        if not isinstance(r, dict) or "runs" not in r:
            continue
        dps = [run["dp"] for run in r["runs"] if "dp" in run]
        dp = (f" | data path: cpu {sum(d['cpu'] for d in dps) / len(dps):.2f}, waiting for a CPU "
              f"{sum(d['waiting'] for d in dps) / len(dps):.3f}, sched-ins/s "
              f"{sum(d['sched_in_per_s'] for d in dps) / len(dps):.0f}, CPU 1 busy "
              f"{sum(d['cpu1_busy'] for d in dps) / len(dps):.2f}, ksoftirqd/1 "
              f"{sum(d['ksoftirqd1'] for d in dps) / len(dps):.3f}") if dps else ""
        for label in ("proxy", "path"):
            if label in r:
                x = r[label]
                print(f"{name:28s} {label:5s} n={x.get('n', 0):6d} p50 {x.get('p50', 0):8.1f} "
                      f"p99 {x.get('p99', 0):8.1f} p99.9 {x.get('p999', 0):8.1f} max {x.get('max', 0):9.1f}"
                      + (dp if label == "proxy" else ""))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
