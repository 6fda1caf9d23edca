"""SRv6 chain overhead (issue 19, the seed's measurement): RTT and TCP / UDP throughput of one flow through
the SRv6 chain against the same flow routed plainly between the same hosts, same run, baseline first.

The namespaces are tests/proxy/test_srv6_interop_netns.py's lab (its `Lab`: same MACs, addresses, Linux
H.Encaps on r1, End.DX4 on t), with the return direction added so that both directions take the chain:

    h1 ── r1 ──────────────────────── t ── h2          plain (the baseline): IPv4 routing h1 → r1 → t → h2
          │  (H.Encaps / End.DX4)     (End.DX4 / H.Encaps)                 and back
          └── px (proxy: sr0 | vnf0, vnf1) ── vnf     detour: IPv4 routing over the chain's hops, both ways:
                                                      r1 → px → vnf → px → r1 → t (px's kernel forwards,
                                                      by input interface; no proxy running yet)
                                                      chain: r1 → px End.AS → vnf → px → r1 → t, and
                                                      t → r1 → px End.AS → vnf → px → r1 End.DX4 → h1

The VNF is the kernel's IPv4 forwarding in its namespace (one port per direction: vnf0 / vnf1), the proxy
the daemon with its compiled fast path. Hops added per direction: 4 (the detour's veth crossings r1 → px,
px → vnf, vnf → px, px → r1; the packets also cross r1 twice); per round trip 8. The per-hop overhead is
(mode − plain) / hops added; detour − plain is what those hops cost with the kernel forwarding, chain − detour
what SRv6 (encapsulation, End.DX4) and the proxy (four passes per round trip) add on top.

    RTT        UDP echo, one probe in flight, --probes probes (p50 / p99 / mean; a lost probe is counted)
    TCP        one bulk connection for --seconds (demo's tcpflow: kernel Cubic), receiver's rate
    UDP        one unpaced sender of --udp-size-byte payloads for --seconds; delivered = frames at h2's
               interface, offered = what the sender sent

The echo client and server run on one CPU (--rtt-cpu, default 0): the baseline's round trip then wakes no
other CPU, and what the chain adds (the proxy's wake-ups on whichever CPU it runs, --proxy-cpu) is in the
difference. The proxy sleeps in epoll between frames as by default; --proxy-spin-us sets its `spin_us`.
The seg6local `count` statistics, the proxy's SID counters and the VNF's port counters are printed per
mode: the detour's and the chain's packets went through the VNF, the chain's through Linux SRv6 and the
proxy, the others' did not.

Root, network namespaces (run under `flock /tmp/srchain-netns.lock` beside the netns tests); every loop is
bounded and the whole run stops after --max-seconds.
Run:  sudo .venv/bin/python bench/srv6_overhead.py [--probes 2000] [--seconds 5] [--udp-size 1400]
          [--behaviour end.as|end.ad] [--rtt-cpu 0] [--proxy-cpu -1] [--proxy-spin-us 0] [--no-detour]
          [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = str(REPO / ".venv/bin/python")
ECHO_PORT, TCP_PORT, UDP_PORT = 7007, 5201, 7000
H2 = "10.2.0.2"
PX_R = "fcbb:bb00:2::a6"  # the proxy's End.AS SID for the return direction (the lab's PX serves h1 → h2)
R1_SID = "fcbb:bb00:1::d4"  # End.DX4 on r1 toward h1
T_SRC = "fc00:3::1"  # t's tunnel source
VNF1_MAC, PX_VNF1_MAC = "02:00:00:19:07:02", "02:00:00:19:07:01"
HOPS_ADDED = 4  # per direction


# ---- helpers run as their own processes inside a namespace (`--echo-server`, `--udp-send`) -------------

def echo_server(port: int, lifetime: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", port))
    sock.settimeout(0.5)
    print("ready", flush=True)
    end = time.monotonic() + lifetime
    while time.monotonic() < end:
        try:
            data, peer = sock.recvfrom(2048)
        except TimeoutError:
            continue
        sock.sendto(data, peer)


def udp_send(dst: str, port: int, seconds: float, size: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    payload = bytes(size)
    sent = errors = 0
    start = time.monotonic()
    end = start + seconds
    while True:
        for _ in range(64):  # the clock read once per 64 datagrams
            try:
                sock.sendto(payload, (dst, port))
                sent += 1
            except OSError:  # ENOBUFS: the qdisc is full; counted, not sent
                errors += 1
        now = time.monotonic()
        if now >= end:
            break
    print(json.dumps({"sent": sent, "errors": errors, "seconds": now - start}), flush=True)


# ---- the lab --------------------------------------------------------------------------------------------

def make_lab(tmp: Path, proxy_cpu: int | None, proxy_spin_us: int, behaviour: str):
    sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "proxy")]
    import test_srv6_interop_netns as interop
    from netlab import add_veth, nsx

    class OverheadLab(interop.Lab):
        def build(self) -> None:
            super().build()
            mac, x = interop.MAC, self.x
            add_veth(self.ns["px"], "vnf1", PX_VNF1_MAC, self.ns["vnf"], "eth1", VNF1_MAC)
            x("h2", "ethtool", "-K", "eth0", "tx", "off")  # h2's replies cross the proxy too (see h1's in Lab)
            # the SRv6 core carries 1500-byte IPv4 packets + 88 bytes of IPv6 and SRH
            for node, ifname in (("r1", "r1-px"), ("px", "sr0"), ("r1", "r1-t"), ("t", "t-r1")):
                x(node, "ip", "link", "set", ifname, "mtu", "9000")
            x("r1", "ip", "neigh", "add", "10.1.0.1", "lladdr", mac["h1"], "dev", "r1-h1", "nud", "permanent")
            # the baseline's IPv4 link r1 - t
            x("r1", "ip", "addr", "add", "10.13.0.1/30", "dev", "r1-t")
            x("r1", "ip", "neigh", "add", "10.13.0.2", "lladdr", mac["tr1"], "dev", "r1-t", "nud", "permanent")
            x("t", "ip", "addr", "add", "10.13.0.2/30", "dev", "t-r1")
            x("t", "ip", "neigh", "add", "10.13.0.1", "lladdr", mac["r1t"], "dev", "t-r1", "nud", "permanent")
            # the detour without SRv6 (mode `detour`): IPv4 r1 - px - vnf; px routes by input interface
            x("r1", "ip", "addr", "add", "10.12.0.1/30", "dev", "r1-px")
            x("r1", "ip", "neigh", "add", "10.12.0.2", "lladdr", mac["sr0"], "dev", "r1-px", "nud", "permanent")
            x("px", "ip", "addr", "add", "10.12.0.2/30", "dev", "sr0")
            x("px", "ip", "neigh", "add", "10.12.0.1", "lladdr", mac["r1px"], "dev", "sr0", "nud", "permanent")
            x("px", "ip", "route", "add", "default", "via", "10.12.0.1", "dev", "sr0")
            for ifname, mine, peer, peer_mac, prefix in (
                    ("vnf0", "192.0.2.1/30", "192.0.2.2", mac["vnf"], "10.2.0.0/24"),
                    ("vnf1", "192.0.2.5/30", "192.0.2.6", VNF1_MAC, "10.1.0.0/24")):
                x("px", "ip", "addr", "add", mine, "dev", ifname)
                x("px", "ip", "neigh", "add", peer, "lladdr", peer_mac, "dev", ifname, "nud", "permanent")
                x("px", "ip", "route", "add", prefix, "via", peer, "dev", ifname, "table", "100")
            for node, ifnames in (("r1", ("r1-h1", "r1-px", "r1-t")), ("px", ("sr0", "vnf0", "vnf1")),
                                  ("t", ("t-r1", "t-h2"))):
                for key in ("all", "default", *ifnames):  # the detour is asymmetric to strict reverse-path checks
                    x(node, "sysctl", "-qw", f"net.ipv4.conf.{key}.rp_filter=0")
            x("r1", "ip", "route", "add", "10.2.0.0/24", "via", "10.13.0.2", "dev", "r1-t", "table", "100")
            x("r1", "ip", "route", "add", "10.1.0.0/24", "via", "10.12.0.2", "dev", "r1-px", "table", "101")
            # the return direction: t encapsulates toward the proxy and r1, r1 decapsulates to h1
            x("t", "ip", "-6", "addr", "add", f"{T_SRC}/128", "dev", "lo", "nodad")
            x("t", "ip", "sr", "tunsrc", "set", T_SRC)
            x("t", "ip", "-6", "neigh", "add", "fc00:13::1", "lladdr", mac["r1t"], "dev", "t-r1", "nud", "permanent")
            x("t", "ip", "-6", "route", "add", "fcbb:bb00::/32", "via", "fc00:13::1", "dev", "t-r1")
            x("r1", "ip", "-6", "route", "add", f"{R1_SID}/128", "encap", "seg6local", "action", "End.DX4", "nh4",
              "10.1.0.1", "count", "dev", "r1-px")
            # the VNF: the kernel forwards each direction back out of the port it came in on
            for key in ("all", "default", "eth0", "eth1"):
                x("vnf", "sysctl", "-qw", f"net.ipv4.conf.{key}.rp_filter=0")
            x("vnf", "sysctl", "-qw", "net.ipv4.ip_forward=1")
            x("vnf", "ip", "link", "set", "eth1", "up")
            for ifname, mine, peer, peer_mac, prefix in (
                    ("eth0", "192.0.2.2/30", "192.0.2.1", mac["vnf0"], "10.2.0.0/24"),
                    ("eth1", "192.0.2.6/30", "192.0.2.5", PX_VNF1_MAC, "10.1.0.0/24")):
                x("vnf", "ip", "addr", "add", mine, "dev", ifname)
                x("vnf", "ip", "neigh", "add", peer, "lladdr", peer_mac, "dev", ifname, "nud", "permanent")
                x("vnf", "ip", "route", "add", prefix, "via", peer, "dev", ifname)
            import yaml
            cfg = yaml.safe_load(self.config.read_text())
            cfg["attachments"] = [{"vnf": "fw", "iface": "vnf0", "mac": mac["vnf"]},
                                  {"vnf": "fwr", "iface": "vnf1", "mac": VNF1_MAC}]
            if self.behaviour == "end.as":
                cfg["srv6_sids"] = [{"sid": interop.PX, "behaviour": "end.as", "vnf": "fw", "source": interop.HEAD,
                                     "segments": [[interop.PX, interop.TAIL]], "segments_left": 0, "hop_limit": 63},
                                    {"sid": PX_R, "behaviour": "end.as", "vnf": "fwr", "source": T_SRC,
                                     "segments": [[PX_R, R1_SID]], "segments_left": 0, "hop_limit": 63}]
            else:  # End.AD per attachment: each direction has its own attachment, so its own learned header
                cfg["srv6_sids"] = [{"sid": interop.PX, "behaviour": "end.ad", "vnf": "fw"},
                                    {"sid": PX_R, "behaviour": "end.ad", "vnf": "fwr"}]
            if self.proxy_cpu is not None:
                cfg["cpus"] = [self.proxy_cpu]
            if self.proxy_spin_us:
                cfg["spin_us"] = self.proxy_spin_us
            self.config.write_text(yaml.safe_dump(cfg))

        def routing(self, mode: str) -> None:
            """Both directions' routes for the mode (`ip route replace`); the detour's policy rules and px's
            IPv4 forwarding only in mode detour (in chain mode px's kernel must not forward what the VNF
            sends back: the proxy does)."""
            detour = mode == "detour"
            self.x("px", "sysctl", "-qw", f"net.ipv4.ip_forward={int(detour)}")
            # detour: r1 sends h1's traffic to px, and what px (the VNF) hands back on to t; h2's replies
            # from t to px, and back from px to h1 (main table); px: from r1 into the VNF, from the VNF to r1
            rules = (("r1", "iif", "r1-px", "100"), ("r1", "iif", "r1-t", "101"), ("px", "iif", "sr0", "100"))
            for node, sel, ifname, table in rules:
                nsx(self.ns[node], "ip", "rule", "add" if detour else "del", sel, ifname, "lookup", table,
                    check=detour)
            if mode == "chain":
                self.x("r1", "ip", "route", "replace", "10.2.0.0/24", "encap", "seg6", "mode", "encap", "segs",
                       f"{interop.PX},{interop.TAIL}", "dev", "r1-px")
                self.x("t", "ip", "route", "replace", "10.1.0.0/24", "encap", "seg6", "mode", "encap", "segs",
                       f"{PX_R},{R1_SID}", "dev", "t-r1")
            else:
                first = ["via", "10.12.0.2", "dev", "r1-px"] if detour else ["via", "10.13.0.2", "dev", "r1-t"]
                self.x("r1", "ip", "route", "replace", "10.2.0.0/24", *first)
                self.x("t", "ip", "route", "replace", "10.1.0.0/24", "via", "10.13.0.1", "dev", "t-r1")

        def counters(self) -> dict:
            proxy = self.api.ok("GET", "/v1/counters")["srv6_sids"] if self.daemon.proc is not None else {}
            return {"t End.DX4": self.seg6local_packets("t", interop.TAIL),
                    "r1 End.DX4": self.seg6local_packets("r1", R1_SID),
                    "vnf eth0 rx": rx_packets(self, "vnf", "eth0"), "vnf eth1 rx": rx_packets(self, "vnf", "eth1"),
                    "proxy": {sid: (row["rx_packets"], row["tx_packets"]) for sid, row in proxy.items()}}

    lab = OverheadLab(tmp)
    lab.proxy_cpu, lab.proxy_spin_us, lab.behaviour = proxy_cpu, proxy_spin_us, behaviour
    return lab


def spawn(ns: str, *args: str) -> subprocess.Popen:
    """A helper process in ns that prints `ready` once it listens."""
    proc = subprocess.Popen(["ip", "netns", "exec", ns, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    if "ready" not in proc.stdout.readline():
        proc.kill()
        raise RuntimeError(f"{args}: did not start: {proc.communicate(timeout=5)[1]}")
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


# ---- measurements ---------------------------------------------------------------------------------------

def rtt(lab, probes: int, cpu: int | None) -> dict:
    from srchain_net.netns import run_in_netns

    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    server = spawn(lab.ns["h2"], *pin, PY, __file__, "--echo-server", str(ECHO_PORT), "--lifetime", str(60 + probes))

    def client() -> tuple[list[float], int]:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})  # this thread only
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(0.2)
        sock.connect((H2, ECHO_PORT))
        out: list[float] = []
        lost = 0
        deadline = time.monotonic() + 30 + probes * 0.01
        for i in range(probes + 50):  # the first 50: warm-up (neighbours, caches), not counted
            if time.monotonic() > deadline:
                break
            msg = struct.pack("!I", i) + bytes(28)
            t0 = time.perf_counter_ns()
            sock.send(msg)
            try:
                while sock.recv(64)[:4] != msg[:4]:  # a late answer to a lost probe: not this one's
                    pass
            except TimeoutError:
                lost += i >= 50
                continue
            if i >= 50:
                out.append((time.perf_counter_ns() - t0) / 1000)
        sock.close()
        return out, lost

    try:
        samples, lost = run_in_netns(lab.ns["h1"], client, timeout=60 + probes * 0.2)
    finally:
        stop(server)
    if not samples:
        raise RuntimeError("no echo answered")
    samples.sort()
    return {"probes": probes, "answered": len(samples), "lost": lost, "p50_us": statistics.median(samples),
            "p99_us": samples[min(len(samples) - 1, int(0.99 * len(samples)))], "mean_us": statistics.fmean(samples),
            "min_us": samples[0]}


def tcp(lab, seconds: float, tmp: Path) -> dict:
    srv_report, cli_report = tmp / "tcp-srv.json", tmp / "tcp-cli.json"
    server = spawn(lab.ns["h2"], PY, "-m", "srchain_demo.l4s.tcpflow", "server", "--port", str(TCP_PORT),
                   "--report", str(srv_report))
    try:
        subprocess.run(["ip", "netns", "exec", lab.ns["h1"], PY, "-m", "srchain_demo.l4s.tcpflow", "client",
                        "--dst", H2, "--port", str(TCP_PORT), "--mode", "bulk", "--seconds", str(seconds),
                        "--report", str(cli_report)], check=True, capture_output=True, timeout=seconds + 60)
        time.sleep(0.5)  # the last bytes in flight
    finally:
        stop(server)
    bins = json.loads(srv_report.read_text())["bytes_per_bin"]
    bin_s = json.loads(srv_report.read_text())["bin_s"]
    busy = [i for i, b in enumerate(bins) if b]
    if len(busy) < 3:
        raise RuntimeError(f"tcp: the receiver got data in {len(busy)} bins")
    steady = bins[busy[0] + 1:busy[-1]]  # without the first and last (partial) bins
    return {"seconds": seconds, "received_bytes": sum(bins), "mbit_s": sum(steady) * 8 / (len(steady) * bin_s) / 1e6,
            "sent_bytes": json.loads(cli_report.read_text())["sent_bytes"]}


def rx_packets(lab, node: str, ifname: str) -> int:
    doc = json.loads(lab.x(node, "ip", "-j", "-s", "link", "show", ifname))
    return int(doc[0]["stats64"]["rx"]["packets"])


def udp(lab, seconds: float, size: int) -> dict:
    from srchain_net.netns import run_in_netns

    sink = run_in_netns(lab.ns["h2"], lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    sink.bind((H2, UDP_PORT))  # bound and never read: no ICMP port-unreachable back through the chain
    try:
        before = rx_packets(lab, "h2", "eth0")
        out = subprocess.run(["ip", "netns", "exec", lab.ns["h1"], PY, __file__, "--udp-send", H2, str(UDP_PORT),
                              str(seconds), str(size)], check=True, capture_output=True, text=True,
                             timeout=seconds + 30)
        time.sleep(0.5)
        got = rx_packets(lab, "h2", "eth0") - before
    finally:
        sink.close()
    sent = json.loads(out.stdout)
    secs = sent["seconds"]
    return {"size": size, "sent": sent["sent"], "send_errors": sent["errors"], "delivered": got,
            "offered_kpps": sent["sent"] / secs / 1e3, "kpps": got / secs / 1e3,
            "mbit_s": got * size * 8 / secs / 1e6, "loss_pct": 100 * (1 - got / max(1, sent["sent"]))}


def measure(lab, mode: str, args: argparse.Namespace, tmp: Path) -> dict:
    lab.routing(mode)
    before = lab.counters()
    res = {"rtt": rtt(lab, args.probes, None if args.rtt_cpu < 0 else args.rtt_cpu)}
    print(f"  rtt: {res['rtt']}", flush=True)
    res["tcp"] = tcp(lab, args.seconds, tmp)
    print(f"  tcp: {res['tcp']}", flush=True)
    res["udp"] = udp(lab, args.seconds, args.udp_size)
    print(f"  udp: {res['udp']}", flush=True)
    after = lab.counters()
    res["seg6local_packets"] = {k: after[k] - before[k] for k in ("t End.DX4", "r1 End.DX4")}
    res["vnf_rx_packets"] = {k: after[k] - before[k] for k in ("vnf eth0 rx", "vnf eth1 rx")}
    res["proxy_sids"] = {sid: (rx - before["proxy"].get(sid, (0, 0))[0], tx - before["proxy"].get(sid, (0, 0))[1])
                         for sid, (rx, tx) in after["proxy"].items()}
    print(f"  seg6local packets (Linux `count`): {res['seg6local_packets']}; proxy SIDs (rx, tx): "
          f"{res['proxy_sids']}; the VNF's ports received {res['vnf_rx_packets']}", flush=True)
    return res


def report(res: dict[str, dict]) -> dict:
    """Per added hop: (mode - plain) / hops added per round trip; detour - plain is what the same 8 hops
    cost with the kernel forwarding, chain - detour what SRv6 and the proxy add on top."""
    hops = 2 * HOPS_ADDED
    out: dict = {"hops_added_per_round_trip": hops}
    base = res["plain"]
    print(f"\nRTT (UDP echo), {hops} hops added per round trip ({HOPS_ADDED} per direction):")
    for q in ("min_us", "p50_us", "p99_us", "mean_us"):
        b = base["rtt"][q]
        row = {m: r["rtt"][q] for m, r in res.items()}
        row.update({f"{m}_ratio": r["rtt"][q] / b for m, r in res.items() if m != "plain"})
        row.update({f"{m}_per_hop_us": (r["rtt"][q] - b) / hops for m, r in res.items() if m != "plain"})
        if "detour" in res:
            row["chain_minus_detour_us"] = res["chain"]["rtt"][q] - res["detour"]["rtt"][q]
        out[f"rtt_{q}"] = row
        line = f"  {q[:-3]:>4}: plain {b:8.1f} µs"
        for m in (m for m in ("detour", "chain") if m in res):
            line += (f" | {m} {row[m]:8.1f} µs, {row[m + '_ratio']:5.2f}x, "
                     f"per added hop {row[m + '_per_hop_us']:6.1f} µs")
        if "detour" in res:
            line += f" | chain - detour {row['chain_minus_detour_us']:6.1f} µs"
        print(line)
    for kind in ("tcp", "udp"):
        b = base[kind]["mbit_s"]
        row = {m: r[kind]["mbit_s"] for m, r in res.items()}
        row.update({f"{m}_ratio": r[kind]["mbit_s"] / b for m, r in res.items() if m != "plain"})
        out[f"{kind}_mbit_s"] = row
        print(f"  {kind.upper()} throughput: plain {b:8.1f} Mbit/s" + "".join(
            f" | {m} {row[m]:8.1f} Mbit/s ({row[m + '_ratio']:4.2f}x)" for m in ("detour", "chain") if m in res))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--probes", type=int, default=2000, help="RTT probes per mode (after 50 warm-up ones)")
    ap.add_argument("--rtt-cpu", type=int, default=0,
                    help="CPU of the echo client and server (-1: unpinned; pinned, a probe wakes no other CPU "
                         "unless the chain does)")
    ap.add_argument("--proxy-cpu", type=int, default=-1, help="the proxy data path's CPU (config `cpus`; -1: any)")
    ap.add_argument("--proxy-spin-us", type=int, default=0,
                    help="the proxy's `spin_us` (0, its default: it sleeps in epoll between frames)")
    ap.add_argument("--seconds", type=float, default=5.0, help="TCP and UDP run length per mode")
    ap.add_argument("--udp-size", type=int, default=1400, help="UDP payload bytes (the inner packet: + 28)")
    ap.add_argument("--max-seconds", type=int, default=300, help="the whole run's bound")
    ap.add_argument("--behaviour", choices=("end.as", "end.ad"), default="end.as",
                    help="the proxy SIDs' behaviour (end.ad: per attachment, one attachment per direction)")
    ap.add_argument("--no-detour", action="store_true",
                    help="skip the detour mode (plain routing over the chain's hops)")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--echo-server", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--lifetime", type=float, default=60.0, help=argparse.SUPPRESS)
    ap.add_argument("--udp-send", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.echo_server:
        echo_server(args.echo_server, args.lifetime)
        return
    if args.udp_send:
        dst, port, seconds, size = args.udp_send
        udp_send(dst, int(port), float(seconds), int(size))
        return
    if os.geteuid() != 0:
        print("srv6_overhead: skipped, needs root (network namespaces)")  # as the other netns benches: `make bench`
        return
    if not 1 <= args.probes <= 100_000 or not 0.5 <= args.seconds <= 60 or not 64 <= args.udp_size <= 1472:
        sys.exit("srv6_overhead: --probes 1..100000, --seconds 0.5..60, --udp-size 64..1472")

    def too_long(*_: object) -> None:
        raise TimeoutError(f"srv6_overhead: over --max-seconds {args.max_seconds}")

    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(args.max_seconds)
    with tempfile.TemporaryDirectory(prefix="srv6ovh") as d:
        tmp = Path(d)
        lab = make_lab(tmp, None if args.proxy_cpu < 0 else args.proxy_cpu, args.proxy_spin_us, args.behaviour)
        try:
            lab.build()
            res: dict[str, dict] = {}
            print(f"load average {os.getloadavg()[0]:.2f}; plain (the baseline): IPv4 routing h1 - r1 - t - h2",
                  flush=True)
            res["plain"] = measure(lab, "plain", args, tmp)
            if not args.no_detour:
                print("detour: IPv4 routing through the chain's hops, h1 - r1 - px - vnf - px - r1 - t - h2 and "
                      "back the same way, no SRv6, no proxy (px's kernel forwards)", flush=True)
                res["detour"] = measure(lab, "detour", args, tmp)
            lab.daemon.start(wait_ready=("fw", "fwr"))  # only now: in the detour px's kernel forwards
            print(f"chain: H.Encaps - proxy {args.behaviour} - VNF (kernel forwarding) - proxy - End.DX4, "
                  "both directions", flush=True)
            res["chain"] = measure(lab, "chain", args, tmp)
            summary = report(res)
            print(f"load average {os.getloadavg()[0]:.2f}")
        finally:
            signal.alarm(0)
            lab.teardown()
    if args.json:
        args.json.write_text(json.dumps({**res, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
