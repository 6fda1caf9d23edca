"""SR proxy forwarding bench: loss-free rate, added latency and memory, against a scapy proxy in the same run.

Topology (network namespaces created and removed by this script):

    pxg<pid> g0 ── sr0 pxq<pid> (proxy under test, CPU 1) vnf0 ── v0 pxr<pid> (sink)

The generator (this process, CPU 0) sends 82-byte Eth/MPLS(2 labels)/IPv4/UDP frames into sr0; the proxy
pops the stack and forwards the inner packet on vnf0; the sink's kernel counter (rx_packets of v0) says
how many arrived. A trial at rate R lasts --duration seconds; "loss-free" = every frame arrived.
Run as root:  .venv/bin/python bench/proxy_forwarding.py [--duration 2] [--flows 1000000]
                                 [--fast-paths compiled,python] [--sched-fifo 0] [--srv6]
--srv6: also SRv6 End.AS and End.AD (loss-free, and latency unless --no-latency) with 138-byte
Eth/IPv6/SRH(2 segments)/IPv4/UDP frames (the same inner packet) through the same proxy and sink, per fast
path, printed with the ratio to SR-MPLS of the same run (End.AS to static, End.AD to dynamic; issue 19:
>= 300 kpps and >= 0.8x SR-MPLS).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from srchain_net.netns import run_in_netns

REPO = Path(__file__).resolve().parents[1]
PY = str(REPO / ".venv/bin/python")
PID = os.getpid()
NS_G, NS_Q, NS_R = f"spg{PID}", f"spq{PID}", f"spr{PID}"
G_MAC, SR_MAC, VNF_MAC, V0_MAC = "02:00:00:00:0d:01", "02:00:00:00:0d:02", "02:00:00:00:0d:03", "02:00:00:00:0d:04"
TOKEN = "bench-token-0123456789abcdef"
STATIC_SID = {"sid": 16001, "behaviour": "static", "vnf": "sink", "restore": [[16002]]}
DYNAMIC_SID = {"sid": 16003, "behaviour": "dynamic", "vnf": "sink", "cache_size": 65536}
SRV6_HEAD, SRV6_TAIL = "fc00:1::1", "fcbb:bb00:3::d4"
SRV6_SIDS = {"end.as": {"sid": "fcbb:bb00:2::a5", "behaviour": "end.as", "vnf": "sink", "source": SRV6_HEAD,
                        "segments": [[SRV6_TAIL]]},
             "end.ad": {"sid": "fcbb:bb00:2::ad", "behaviour": "end.ad", "vnf": "sink"}}
MARK_PORT = 9999  # UDP destination port of latency probe frames
SO_TIMESTAMPNS = 35  # Linux, not exported by the socket module


def sh(*args: str, check: bool = True) -> str:
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=30).stdout


def nsx(ns: str, *args: str) -> str:
    return sh("ip", "netns", "exec", ns, *args)


def mac(m: str) -> bytes:
    return bytes.fromhex(m.replace(":", ""))


def frame(label: int, sport: int = 5555, dport: int = 7000, src: int = 0x0A500005) -> bytearray:
    """82 bytes: Ethernet 14 + 2 MPLS labels 8 + IPv4 20 + UDP 8 + 32 bytes payload."""
    payload = b"x" * 32
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, 0x0A460009)  # to SINK_IP
    csum = sum(struct.unpack("!10H", ip))
    csum = (csum & 0xFFFF) + (csum >> 16)
    ip = ip[:10] + struct.pack("!H", ~csum & 0xFFFF) + ip[12:]
    mpls = struct.pack("!II", label << 12 | 64, 16004 << 12 | 0x100 | 64)
    return bytearray(mac(SR_MAC) + mac(G_MAC) + b"\x88\x47" + mpls + ip + udp)


def srv6_frame(sid: str, sport: int) -> bytearray:
    """138 bytes: Ethernet 14 + IPv6 40 (DA = sid) + SRH [sid, TAIL] SL 1 (8 + 2 x 16) + frame()'s IPv4/UDP."""
    import ipaddress

    inner = bytes(frame(16001, sport=sport)[22:])
    segs = ipaddress.IPv6Address(SRV6_TAIL).packed + ipaddress.IPv6Address(sid).packed  # Segment List[0] = last
    srh = bytes((4, 4, 4, 1, 1, 0, 0, 0)) + segs
    ip6 = struct.pack("!IHBB", 6 << 28, len(srh) + len(inner), 43, 64) + ipaddress.IPv6Address(SRV6_HEAD).packed
    ip6 += ipaddress.IPv6Address(sid).packed
    return bytearray(mac(SR_MAC) + mac(G_MAC) + b"\x86\xdd" + ip6 + srh + inner)


def in_netns(ns: str, make):
    """make() run in network namespace ns, its result returned: sockets keep the namespace they were
    created in."""
    return run_in_netns(ns, make, timeout=None)


def socket_in(ns: str, ifname: str, outgoing: bool = False, receive: bool = True) -> socket.socket:
    """An AF_PACKET socket on ifname in namespace ns; receive=False: send-only (bound to protocol 0, so the
    kernel queues nothing to it: a generator must not pay for the traffic coming the other way)."""

    def make() -> socket.socket:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        if not outgoing:
            s.setsockopt(263, 23, 1)  # PACKET_IGNORE_OUTGOING
        s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        s.bind((ifname, 3 if receive else 0))
        return s

    return in_netns(ns, make)


def attach_port_filter(sock: socket.socket, offset: int, port: int) -> None:
    """Classic BPF: keep only frames whose 16-bit word at offset equals port (the latency probes)."""
    insns = [(0x28, 0, 0, offset), (0x15, 0, 1, port), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0)]
    prog = b"".join(struct.pack("HBBI", *i) for i in insns)
    buf = ctypes.create_string_buffer(prog)
    fprog = struct.pack("HL", len(insns), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, 26, fprog)  # SO_ATTACH_FILTER (the kernel copies the program)


def stamps(sock: socket.socket, off: int) -> dict[int, int]:
    """Sequence number (32 bits at off) -> kernel receive time (ns) of every queued probe."""
    out: dict[int, int] = {}
    sock.setblocking(False)
    while True:
        try:
            data, anc, _flags, _addr = sock.recvmsg(256, 256)
        except BlockingIOError:
            return out
        for level, kind, raw in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", raw[:16])
                out[struct.unpack_from("!I", data, off)[0]] = sec * 1_000_000_000 + nsec


SINK_IP, SINK_PORT = "10.70.0.9", 7000  # the inner destination of frame(); sink "vnf" owns and binds it
SINK_L2_MAC = "02:00:00:00:0d:05"  # sink "l2": v0's own address, while the proxy keeps sending to V0_MAC
SINK_HELP = ("what receives the proxy's frames on v0, work that veth charges to the proxy's CPU (docs/proxy.md, "
             "run I). l2 (default): v0 owns another MAC, so the frames stop at its L2 right after the counters and "
             "taps, as a NIC's transmit would end for the proxy; vnf: a VNF host, v0 owns the inner destination "
             "address and a UDP socket is bound to the port (never read: once its buffer is full the frames are "
             "dropped there); ip: v0 owns the attachment's MAC but not the address, so every frame is routed and "
             "refused (forwarding off): a dst allocated per packet and freed through RCU in ksoftirqd")


class Lab:
    def __init__(self, sink: str = "l2") -> None:
        self.sink = sink

    def __enter__(self) -> Lab:
        for ns in (NS_G, NS_Q, NS_R):
            sh("ip", "netns", "add", ns)
            nsx(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
            nsx(ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
        for a, ia, ma, b, ib, mb in ((NS_G, "g0", G_MAC, NS_Q, "sr0", SR_MAC),
                                     (NS_Q, "vnf0", VNF_MAC, NS_R, "v0", V0_MAC)):
            sh("ip", "link", "add", ia, "netns", a, "address", ma, "type", "veth", "peer", "name", ib,
               "netns", b, "address", mb)
            nsx(a, "ip", "link", "set", ia, "up")
            nsx(b, "ip", "link", "set", ib, "up")
        if self.sink == "l2":
            nsx(NS_R, "ip", "link", "set", "v0", "address", SINK_L2_MAC)
        self.vnf_sock = None
        if self.sink == "vnf":
            nsx(NS_R, "ip", "addr", "add", f"{SINK_IP}/24", "dev", "v0")

            def bound() -> socket.socket:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((SINK_IP, SINK_PORT))
                return s

            self.vnf_sock = in_netns(NS_R, bound)
        self.tmp = Path(tempfile.mkdtemp(prefix="spbench"))
        (self.tmp / "token").write_text(TOKEN)
        (self.tmp / "token").chmod(0o600)
        self.gen = socket_in(NS_G, "g0", receive=False)
        self.gen.setblocking(True)
        self.ret = socket_in(NS_R, "v0", receive=False)  # the "VNF" sending back toward the proxy (return direction)
        self.ret.setblocking(True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.vnf_sock is not None:  # show that the frames reached the VNF host's UDP layer
            udp = [ln.split() for ln in nsx(NS_R, "cat", "/proc/net/snmp").splitlines() if ln.startswith("Udp:")]
            counts = dict(zip(udp[0][1:], udp[1][1:], strict=True))
            print(f"sink vnf: UDP InDatagrams {counts['InDatagrams']}, RcvbufErrors {counts['RcvbufErrors']}, "
                  f"NoPorts {counts['NoPorts']}", flush=True)
            self.vnf_sock.close()
        self.gen.close()
        self.ret.close()
        for ns in (NS_G, NS_Q, NS_R):
            sh("ip", "netns", "del", ns, check=False)

    def sink_rx(self) -> int:
        return int(nsx(NS_R, "cat", "/sys/class/net/v0/statistics/rx_packets"))

    def source_rx(self) -> int:
        """Frames the proxy sent back to the SR side (return direction), as g0 counts them."""
        return int(nsx(NS_G, "cat", "/sys/class/net/g0/statistics/rx_packets"))

    def start_proxy(self, fast_path: str = "auto", sched_fifo: int = 0, extra: dict | None = None,
                    cpus: str = "1", sids: list | None = None) -> subprocess.Popen:
        """The daemon in NS_Q under `taskset -c cpus`; extra: more config keys (e.g. spin_us, workers)."""
        (self.tmp / "ctl.sock").unlink(missing_ok=True)
        (self.tmp / "state.json").unlink(missing_ok=True)
        cfg = {"sr_iface": "sr0", "sr_next_hop_mac": G_MAC, "listen": f"unix:{self.tmp}/ctl.sock",
               "token_file": str(self.tmp / "token"), "state_file": str(self.tmp / "state.json"),
               "fast_path": fast_path, **({"sched_fifo": sched_fifo} if sched_fifo else {}), **(extra or {}),
               "sids": sids if sids is not None else [STATIC_SID, DYNAMIC_SID],
               "attachments": [{"vnf": "sink", "iface": "vnf0", "mac": V0_MAC}]}
        (self.tmp / "proxy.json").write_text(json.dumps(cfg))
        proc = subprocess.Popen(["ip", "netns", "exec", NS_Q, "taskset", "-c", cpus, PY, "-m", "srchain_proxy",
                                 "run", "--config", str(self.tmp / "proxy.json"), "--log-level", "warning"])
        deadline = time.monotonic() + 15
        while not (self.tmp / "ctl.sock").exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("proxy did not start")
            time.sleep(0.1)
        time.sleep(0.3)
        return proc

    def start_scapy_proxy(self, sched_fifo: int = 0) -> subprocess.Popen:
        rt = ["chrt", "-f", str(sched_fifo)] if sched_fifo else []  # same priority as the proxy under test
        proc = subprocess.Popen(["ip", "netns", "exec", NS_Q, *rt, "taskset", "-c", "1", PY, __file__,
                                 "--scapy-proxy"], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        if b"ready" not in proc.stdout.readline():
            raise RuntimeError("scapy proxy did not start")
        return proc


def proxy_counters(lab: Lab) -> dict:
    """The proxy's own view (kernel socket drops, send errors) to explain where frames were lost."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(str(lab.tmp / "ctl.sock"))
        s.sendall(f"GET /v1/counters HTTP/1.0\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    except OSError:
        return {}
    finally:
        s.close()
    body = json.loads(data.split(b"\r\n\r\n", 1)[1])
    return {"kernel_drops": body["kernel_drops"], "tx_error": body["drops"]["tx_error"]}


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


MAX_BURST = 8  # latency runs: frames sent back to back to catch up; further behind, the schedule slips


def send_paced(sock: socket.socket, frames: list[bytearray], rate: float, count: int, mutate=None,
               max_burst: int | None = None, slips: list[tuple[int, float]] | None = None,
               pick=None) -> tuple[int, float]:
    """Send count frames (cycling through frames, or pick(i)) at rate pps; returns (sent, seconds).

    max_burst None: a generator that fell behind catches up at its top speed (loss-free trials: a stress).
    Otherwise, more than max_burst frames behind, the schedule moves on and the slip is appended to slips as
    (frame index, seconds): a latency run offers the rate it names, not bursts at twice that rate after the
    generator was stalled by something else on its CPU (on this VM, the sandbox's own agents, up to 50 ms).
    The returned seconds are the wall time, slips included: sent / seconds is the rate achieved.
    """
    send = sock.send
    n = len(frames)
    clock = time.perf_counter
    t0 = clock()
    slipped = 0.0
    sent = 0
    while sent < count:
        due = min(count, int((clock() - t0) * rate) + 1)
        if max_burst is not None and due - sent > max_burst:
            shift = (due - sent - 1) / rate
            t0 += shift
            slipped += shift
            if slips is not None:
                slips.append((sent, shift))
            due = sent + 1
        while sent < due:
            f = pick(sent) if pick is not None else frames[sent % n]
            if mutate is not None:
                mutate(f, sent)
            send(f)
            sent += 1
    return sent, clock() - t0 + slipped


def trial(lab: Lab, frames, rate: float, duration: float, mutate=None, back: bool = False) -> tuple[int, int, float]:
    """back: the return direction (frames from the VNF side, counted where the SR side receives them)."""
    count = lab.source_rx if back else lab.sink_rx
    before = count()
    sent, took = send_paced(lab.ret if back else lab.gen, frames, rate, int(rate * duration), mutate)
    time.sleep(0.3)  # let queues drain
    return sent, count() - before, sent / took


def loss_free(lab: Lab, frames, lo: float, hi: float, duration: float, steps: int = 7, mutate=None,
              back: bool = False) -> dict:
    """Highest offered rate with zero loss (bisection between lo and hi)."""
    best = {"rate_pps": 0.0, "sent": 0, "delivered": 0}
    rate = hi  # first try the top of the range, then bisect
    for _ in range(steps):
        sent, got, achieved = trial(lab, frames, rate, duration, mutate, back)
        ok = got >= sent
        print(f"    offered {rate / 1000:8.1f} kpps (achieved {achieved / 1000:7.1f}): "
              f"{got}/{sent} delivered {'ok' if ok else 'LOSS'} {proxy_counters(lab)}", flush=True)
        if ok:
            best = {"rate_pps": achieved, "sent": sent, "delivered": got}
            if rate == hi:
                break
            lo = rate
        else:
            hi = rate
        rate = (lo + hi) / 2
    return best


def latency(lab: Lab, frames, rate: float, seconds: float = 3.0, warmup: float = 0.5, outer: int = 8) -> dict:
    """Added latency proxy-in to VNF-side wire: kernel timestamps of probe frames on g0 (tx) and v0 (rx).

    A warm-up at the same rate first (caches, ring pages, CPU frequency), then every 100th frame is a probe.
    outer: bytes between the Ethernet header and the inner IPv4 header (MPLS: 8; SRv6: 80, IPv6 + SRH).
    """
    send_paced(lab.gen, frames, rate, int(rate * warmup))
    time.sleep(0.2)
    tap = socket_in(NS_G, "g0", outgoing=True)
    sink = socket_in(NS_R, "v0")
    attach_port_filter(tap, 14 + outer + 20 + 2, MARK_PORT)
    attach_port_filter(sink, 14 + 20 + 2, MARK_PORT)
    for s in (tap, sink):
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    probe = frames[0][:]
    struct.pack_into("!H", probe, 14 + outer + 20 + 2, MARK_PORT)
    seq_off = 14 + outer + 28  # first payload bytes carry a sequence number

    def mutate(f: bytearray, i: int) -> None:
        if i % 100 == 0:
            struct.pack_into("!I", probe, seq_off, i)
            lab.gen.send(probe)

    send_paced(lab.gen, frames, rate, int(rate * seconds), mutate, max_burst=MAX_BURST)
    time.sleep(0.3)

    tx = stamps(tap, seq_off)
    rx = stamps(sink, 14 + 28)
    tap.close()
    sink.close()
    deltas = sorted((rx[k] - tx[k]) / 1000 for k in rx if k in tx)
    if not deltas:
        return {"probes": 0}
    return {"probes": len(deltas), "lost": len(tx) - len(deltas), **percentiles(deltas), "deltas": deltas}


def add_latency(lab: Lab, frames, res: dict, outer: int = 8) -> None:
    """res["latency_at_half_rate"]: three latency runs at half of res's loss-free rate (the machine is shared:
    each 3 seconds after a warm-up), the median run by p99 and all probes pooled."""
    half = res["rate_pps"] / 2
    runs, pooled = [], []
    for _ in range(3):
        run = latency(lab, frames, half, outer=outer)
        pooled += run.pop("deltas", [])
        runs.append(run)
        print(f"    latency at {half / 1000:.1f} kpps: {run}", flush=True)
    runs.sort(key=lambda r: r.get("p99_us", float("inf")))
    res["latency_at_half_rate"] = {**runs[1], "rate_pps": half, "runs": runs,
                                   "pooled": percentiles(pooled) if pooled else {}}


def percentiles(deltas: list[float]) -> dict:
    d = sorted(deltas)
    return {"p50_us": round(d[len(d) // 2], 1), "p99_us": round(d[min(len(d) - 1, int(len(d) * 0.99))], 1)}


def rss_kib(proc: subprocess.Popen) -> int:
    # the daemon is the python child of `ip netns exec` (which execs, so same pid) under taskset (execs too)
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def many_flows(lab: Lab, proc: subprocess.Popen, flows: int, rate: float) -> list[tuple[int, int]]:
    f = frame(16003)
    points = []
    step = max(flows // 10, 1)

    def mutate(buf: bytearray, i: int) -> None:
        struct.pack_into("!IH", buf, 14 + 8 + 12, 0x0B000000 + (i >> 16), i & 0xFFFF)  # src IP + sport

    for start in range(0, flows, step):
        def offset_mutate(buf: bytearray, i: int, start=start) -> None:
            mutate(buf, start + i)
        send_paced(lab.gen, [f], rate, min(step, flows - start), offset_mutate)
        time.sleep(0.2)
        points.append((start + step, rss_kib(proc)))
        print(f"    {start + step:>9} flows sent: proxy RSS {points[-1][1] / 1024:.1f} MiB", flush=True)
    return points


def return_frame(sport: int) -> bytearray:
    """What a VNF sends back to the proxy: 60 bytes Eth/IPv4/UDP (the proxy pushes the stack: 64 or 68)."""
    f = frame(16001, sport=sport)
    return bytearray(mac(VNF_MAC) + mac(V0_MAC) + b"\x08\x00" + f[22:])


def return_direction(lab: Lab, fast_path: str, duration: float) -> dict:
    """VNF -> SR loss-free rate, one SID per run (static: push the configured stack; dynamic: the stack
    learned from 64 inbound flows first, return_match same)."""
    out = {}
    for mode, sid in (("static", STATIC_SID), ("dynamic", DYNAMIC_SID)):
        proc = lab.start_proxy(fast_path, sids=[sid])
        try:
            if mode == "dynamic":
                send_paced(lab.gen, [frame(16003, sport=1000 + i) for i in range(64)], 10_000, 64)
                time.sleep(0.3)
            name = f"return {mode}/{fast_path}"
            print(f"== srchain-proxy {name}", flush=True)
            out[name] = loss_free(lab, [return_frame(1000 + i) for i in range(64)], 0, 600_000, duration,
                                  back=True)
        finally:
            stop(proc)
    return out


def scapy_proxy() -> None:
    """The baseline: sniff on sr0, strip the MPLS stack, sendp the inner packet on vnf0 (scapy does it all)."""
    from scapy.all import conf, sniff
    from scapy.contrib.mpls import MPLS
    from scapy.layers.l2 import Ether

    out = conf.L2socket(iface="vnf0")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    def handle(pkt) -> None:
        if MPLS in pkt and pkt[MPLS].label in (16001, 16003):
            layer = pkt[MPLS]
            while isinstance(layer, MPLS):
                layer = layer.payload
            out.send(Ether(dst=V0_MAC, src=VNF_MAC) / layer)

    print("ready", flush=True)
    sniff(iface="sr0", prn=handle, store=False)


END_SID = "fcbb:bb00:4::e"
K0_MAC, K1_MAC = "02:00:00:00:0d:05", "02:00:00:00:0d:06"


class LinuxEndLab:
    """The reference the issue asks for beside the proxy: the Linux kernel's `seg6local action End` on the
    same kind of veth path, same generator and sink counting (namespaces spg/spk/spr<pid>):

        spg g0 ── k0 spk (seg6local End on END_SID; TAIL routed out of k1) k1 ── v0 spr (sink)
    """

    def __enter__(self) -> LinuxEndLab:
        self.ns = (NS_G, f"spk{PID}", NS_R)
        g, k, r = self.ns
        for ns in self.ns:
            sh("ip", "netns", "add", ns)
        for ns in (g, r):
            nsx(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
            nsx(ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
        for a, ia, ma, b, ib, mb in ((g, "g0", G_MAC, k, "k0", K0_MAC), (k, "k1", K1_MAC, r, "v0", V0_MAC)):
            sh("ip", "link", "add", ia, "netns", a, "address", ma, "type", "veth", "peer", "name", ib,
               "netns", b, "address", mb)
            nsx(a, "ip", "link", "set", ia, "up")
            nsx(b, "ip", "link", "set", ib, "up")
        for key in ("all", "default", "k0", "k1"):
            nsx(k, "sysctl", "-qw", f"net.ipv6.conf.{key}.seg6_enabled=1")
            nsx(k, "sysctl", "-qw", f"net.ipv6.conf.{key}.accept_ra=0")
        nsx(k, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        nsx(k, "ip", "-6", "addr", "add", "fc00:9::1/64", "dev", "k1", "nodad")
        nsx(k, "ip", "-6", "neigh", "replace", "fc00:9::2", "lladdr", V0_MAC, "dev", "k1", "nud", "permanent")
        nsx(k, "ip", "-6", "route", "add", f"{SRV6_TAIL}/128", "via", "fc00:9::2", "dev", "k1")
        nsx(k, "ip", "-6", "route", "add", f"{END_SID}/128", "encap", "seg6local", "action", "End", "count",
            "dev", "k0")
        self.tmp = Path(tempfile.mkdtemp(prefix="spbench"))  # proxy_counters() finds no proxy here: {}
        self.gen = socket_in(g, "g0", receive=False)
        self.gen.setblocking(True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.gen.close()
        for ns in self.ns:
            sh("ip", "netns", "del", ns, check=False)

    def sink_rx(self) -> int:
        return int(nsx(NS_R, "cat", "/sys/class/net/v0/statistics/rx_packets"))

    def end_packets(self) -> str:
        return nsx(self.ns[1], "ip", "-s", "-6", "route", "show", f"{END_SID}/128").strip()


def linux_end(duration: float, top: float = 600_000) -> dict:
    """Loss-free rate of the kernel's seg6local End, 138-byte frames over 64 flows (as --srv6's)."""
    with LinuxEndLab() as lab:
        frames = [srv6_frame(END_SID, 1000 + i) for i in range(64)]
        for f in frames:
            f[:6] = mac(K0_MAC)
        print("== linux seg6local End (reference)", flush=True)
        res = loss_free(lab, frames, 0, top, duration)  # type: ignore[arg-type]  # duck-typed: gen, sink_rx, tmp
        print(f"    {lab.end_packets()}", flush=True)
        return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=2.0, help="seconds per trial")
    ap.add_argument("--flows", type=int, default=1_000_000, help="distinct flows for the memory run")
    ap.add_argument("--no-baseline", action="store_true", help="skip the scapy baseline (no ratio printed)")
    ap.add_argument("--sched-fifo", type=int, default=0,
                    help="SCHED_FIFO priority of the proxy's data path and of the scapy baseline (0: normal)")
    ap.add_argument("--fast-paths", default="compiled,python",
                    help="proxy SR loops to measure, in one run (fast_path config values)")
    ap.add_argument("--workers", default="1",
                    help="worker counts to measure (comma list); > 1: compiled loop, proxy on CPUs 0,1 "
                         "(worker 0 on CPU 1, worker 1 on CPU 0 with the generator)")
    ap.add_argument("--no-latency", action="store_true",
                    help="skip the latency runs (bench/proxy_latency.py is the precise method)")
    ap.add_argument("--return-direction", action="store_true",
                    help="also measure VNF -> SR loss-free rates (static and dynamic, per fast path)")
    ap.add_argument("--sink", choices=("l2", "vnf", "ip"), default="l2", help=SINK_HELP)
    ap.add_argument("--srv6", action="store_true", help="also SRv6 End.AS / End.AD loss-free rates, per fast path")
    ap.add_argument("--max-kpps", type=float, default=600.0,
                    help="top of the loss-free bisection (SR side; the generator's own limit is the real one)")
    ap.add_argument("--linux-end", action="store_true",
                    help="also the Linux kernel's seg6local End loss-free rate on the same kind of veth path")
    ap.add_argument("--scapy-proxy", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.scapy_proxy:
        scapy_proxy()
        return
    top = args.max_kpps * 1000
    if os.geteuid() != 0:
        print("proxy_forwarding: skipped, needs root (network namespaces)")
        return
    os.sched_setaffinity(0, {0})
    print(f"proxies on CPU 1, {'SCHED_FIFO ' + str(args.sched_fifo) if args.sched_fifo else 'normal priority'}")
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    print(f"load average before: {' '.join(load_before)} (other work on this machine skews every number)")
    results: dict = {"load_before": load_before}
    with Lab(args.sink) as lab:
        if args.no_baseline:
            results["scapy"] = {"rate_pps": 0.0}
        else:
            print("== scapy sniff/sendp proxy (baseline)", flush=True)
            proc = lab.start_scapy_proxy(args.sched_fifo)
            try:
                results["scapy"] = loss_free(lab, [frame(16001)], 0, 8000, min(args.duration, 2.0), steps=6)
            finally:
                stop(proc)
        setups = [(fp, 1) for fp in args.fast_paths.split(",")]
        setups += [("compiled", int(w)) for w in args.workers.split(",") if int(w) > 1]
        for fast_path, workers in setups:
            extra = {"workers": workers, "cpus": [1, 0]} if workers > 1 else None
            proc = lab.start_proxy(fast_path, args.sched_fifo, extra=extra, cpus="0,1" if workers > 1 else "1")
            try:
                for mode, label in (("static", 16001), ("dynamic", 16003)):
                    name = f"{mode}/{fast_path}" + (f"x{workers}" if workers > 1 else "")
                    print(f"== srchain-proxy {name}", flush=True)
                    frames = [frame(label, sport=1000 + i) for i in range(64)]  # 64 flows
                    res = loss_free(lab, frames, 0, top, args.duration)
                    results[name] = res
                    if args.no_latency:
                        continue
                    add_latency(lab, frames, res)
                if fast_path == args.fast_paths.split(",")[0] and workers == 1 and args.flows:
                    print(f"== memory: {args.flows} distinct flows through the dynamic SID (cache 65536)", flush=True)
                    rate = min(max(results[f"dynamic/{fast_path}"]["rate_pps"] * 0.8, 10_000), 200_000)
                    results["rss_kib"] = many_flows(lab, proc, args.flows, rate)
            finally:
                stop(proc)
        if args.return_direction:
            for fast_path in args.fast_paths.split(","):
                results.update(return_direction(lab, fast_path, args.duration))
        if args.srv6:
            for fast_path in args.fast_paths.split(","):
                proc = lab.start_proxy(fast_path, args.sched_fifo, sids=[],
                                       extra={"srv6_sids": list(SRV6_SIDS.values())})
                try:
                    for behaviour, sid in SRV6_SIDS.items():
                        name = f"srv6 {behaviour}/{fast_path}"
                        print(f"== srchain-proxy {name}", flush=True)
                        frames = [srv6_frame(sid["sid"], 1000 + i) for i in range(64)]  # 64 flows
                        res = results[name] = loss_free(lab, frames, 0, top, args.duration)
                        if not args.no_latency:
                            add_latency(lab, frames, res, outer=80)
                finally:
                    stop(proc)
    if args.linux_end:
        results["linux seg6local End"] = linux_end(args.duration, top)
    base = results["scapy"]["rate_pps"]
    results["load_after"] = Path("/proc/loadavg").read_text().split()[:3]
    print("\n== summary")
    print(f"load average before {' '.join(load_before)}, after {' '.join(results['load_after'])}")
    print(f"scapy baseline loss-free:  {base / 1000:8.2f} kpps" if base else "scapy baseline: not run")
    for name in [k for k in results if "/" in k]:
        r = results[name]
        ratio = f" = {r['rate_pps'] / base:5.0f}x scapy" if base else ""
        print(f"srchain-proxy {name:24s}: {r['rate_pps'] / 1000:6.1f} kpps loss-free{ratio}")
        if "latency_at_half_rate" not in r:
            continue
        lat = r["latency_at_half_rate"]
        pooled = lat["pooled"]
        nan = float("nan")
        print(f"    added latency at {lat['rate_pps'] / 1000:.0f} kpps: "
              f"median run p50 {lat.get('p50_us', nan):.0f} / p99 {lat.get('p99_us', nan):.0f} us, "
              f"all probes p50 {pooled.get('p50_us', nan):.0f} / p99 {pooled.get('p99_us', nan):.0f} us "
              f"({sum(x.get('probes', 0) for x in lat['runs'])} probes)")
    if "linux seg6local End" in results:
        ref = results["linux seg6local End"]["rate_pps"]
        print(f"linux seg6local End (reference): {ref / 1000:6.1f} kpps loss-free")
    for name in [k for k in results if k.startswith("srv6 ")]:  # End.AS against static, End.AD against dynamic
        ref = f"{'static' if 'end.as' in name else 'dynamic'}/{name.split('/')[1]}"
        if results.get(ref, {}).get("rate_pps"):
            print(f"{name}: {results[name]['rate_pps'] / results[ref]['rate_pps']:.2f}x SR-MPLS {ref} (same run)")
    rss = results.get("rss_kib", [])
    print("RSS (MiB) after flows: " + ", ".join(f"{n}: {k / 1024:.1f}" for n, k in rss))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
