"""Controller apply: entries per second into the emulated switch, time to apply the reference chain,
time to reorder it (drain wait excluded). Baselines measured in the same run: one entry per Write RPC,
and the same apply with one operation per batch.

    .venv/bin/python bench/apply_rates.py [--entries 8000] [--rounds 3]

Real gRPC to the emulator's BF Runtime server on 127.0.0.1, run as its own process (as a switch is);
the reference chain's proxy is a real srchain-proxy in a network namespace `sab<pid>` (root; without
root the chain numbers are skipped). Everything it creates is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from srchain.apply import AppliedStore, Controller, Drivers, Options
from srchain.apply.factory import driver_factory
from srchain.bfrt.client import BfrtClient
from srchain.model import load_chain
from srchain.model.load import load_inventory
from srchain.plan import build_plan
from srchain.plan.model import DiffOp, Entry
from srchain.sidstore import SidStore
from srchain.targets.loader import Bundle
from srchain.targets.switch import SwitchDriver
from srchain_emu.bundle import compile_to_dir

REPO = Path(__file__).resolve().parents[1]
TABLES = ("SwitchIngress.sr.sid_forward", "SwitchIngress.ipv4.routes")  # 4096 entries each


SERVER = """
import sys
from srchain_emu.bfrt_server import serve
server, _, port = serve("127.0.0.1:0")
print(port, flush=True)
sys.stdin.read()  # until the bench closes our stdin
server.stop(None).wait(5)
"""


class EmulatorProcess:
    """The emulator's BF Runtime server in a child process (its own interpreter and GIL)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def entries(n: int) -> list[Entry]:
    half = n // 2
    out = [Entry("switch", "s1", TABLES[0], {"label": 16 + i}, "SwitchIngress.sr.forward",
                 {"port": 1 + i % 8, "dst_mac": f"02:00:00:00:{i >> 8 & 0xFF:02x}:{i & 0xFF:02x}"}, "sid_forward", 1)
           for i in range(half)]
    out += [Entry("switch", "s1", TABLES[1], {"dst_addr": {"value": f"10.{i >> 8 & 0xFF}.{i & 0xFF}.0",
                                                             "prefix_len": 24}},
                  "SwitchIngress.ipv4.route", {"port": 1 + i % 8, "dst_mac": "02:00:00:00:00:01"}, "route", None)
            for i in range(n - half)]
    return out


def bench_entries(address: str, bundle: Bundle, n: int, rounds: int) -> None:
    drv = SwitchDriver("s1", BfrtClient.connect(address, client_id=3, timeout=60), "srchain_node", bundle)
    drv.prepare()
    es = entries(n)
    adds = [DiffOp("add", "install", e) for e in es]
    dels = [DiffOp("delete", "cleanup", e) for e in es]
    batched, single = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        drv.write(adds)  # WriteRequests of 500 updates, two in flight
        batched.append(n / (time.perf_counter() - t))
        drv.write(dels)
        m = min(n, 2000)
        t = time.perf_counter()
        for op in adds[:m]:
            drv.write([op])
        single.append(m / (time.perf_counter() - t))
        drv.write(dels[:m])
    drv.close()
    b, s = statistics.median(batched), statistics.median(single)
    print(f"entries/s, batches of 500, 2 in flight (plan entry -> gRPC -> emulator), median of {rounds}: {b:,.0f}")
    print(f"entries/s, one entry per Write RPC (baseline, same run):          {s:,.0f}")
    print(f"ratio batched / one-per-RPC: {b / s:.1f}x   (target >= 20,000 entries/s)")


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def start_proxy(tmp: Path, ns: str) -> tuple[subprocess.Popen, Path, Path]:
    sh("ip", "netns", "add", ns)
    for name in ("px1-sr", "px1-fmt", "px1-cla", "px1-clb", "px1-agg"):
        sh("ip", "-n", ns, "link", "add", name, "type", "veth", "peer", "name", f"q-{name}")
        sh("ip", "-n", ns, "link", "set", name, "up")
        sh("ip", "-n", ns, "link", "set", f"q-{name}", "up")
    token = tmp / "px1.token"
    token.write_text("bench-token-0123456789abcdef")
    token.chmod(0o600)
    sock = tmp / "px1.sock"
    cfg = tmp / "px1.yaml"
    cfg.write_text(yaml.safe_dump({"sr_iface": "px1-sr", "sr_next_hop_mac": "02:00:00:00:01:04", "io": "socket",
                                   "listen": f"unix:{sock}", "token_file": str(token), "attachments": [], "sids": [],
                                   "state_file": str(tmp / "px1.state.json")}))
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "srchain_proxy", "run", "--config",
                             str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while not sock.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("proxy did not start")
        time.sleep(0.05)
    time.sleep(0.3)
    return proc, sock, token


def bench_chain(tmp: Path, artifacts: Path, rounds: int) -> None:
    ns = f"sab{os.getpid()}"
    proc, sock, token = start_proxy(tmp, ns)
    swap = yaml.safe_load((REPO / "examples/cloud-gaming.yaml").read_text())
    swap["segments"][2], swap["segments"][3] = swap["segments"][3], swap["segments"][2]
    (tmp / "reorder.yaml").write_text(yaml.safe_dump(swap))
    try:
        rows: dict[str, list[float]] = {}
        for r in range(rounds):
            for batch_size, label in ((10_000, "batched"), (1, "one op per batch (baseline)")):
                emu = EmulatorProcess()
                port = emu.port
                inv = yaml.safe_load((REPO / "examples/inventory.yaml").read_text())
                inv["switches"][0].update(grpc=f"127.0.0.1:{port}", artifacts=str(artifacts))
                inv["proxies"][0].update(control=f"unix:{sock}", token_file=str(token))
                inv_path = tmp / f"inv{r}{batch_size}.yaml"
                inv_path.write_text(yaml.safe_dump(inv))
                state = tmp / f"state{r}{batch_size}"
                inventory, _ = load_inventory(inv_path)

                def run(spec: Path, first: bool, inv_path=inv_path, state=state, inventory=inventory,
                        batch_size=batch_size) -> tuple[float, float]:
                    with SidStore(state) as store:
                        plan = build_plan(load_chain(spec, inv_path), store)
                    drivers = Drivers(driver_factory(inventory, tmp))
                    ctl = Controller(drivers, AppliedStore(state), Options(drain_interval=0.05, drain_timeout=2,
                                                                           batch_size=batch_size))
                    t = time.perf_counter()
                    res = ctl.apply(plan)
                    total = time.perf_counter() - t
                    drivers.close()
                    return total, total - res.timings.get("drain_s", 0.0)

                cold, _ = run(REPO / "examples/cloud-gaming.yaml", True)  # includes the program push
                _, reorder = run(tmp / "reorder.yaml", False)
                _, back = run(REPO / "examples/cloud-gaming.yaml", False)
                rows.setdefault(f"reference chain, cold switch (push + bind + entries), {label}", []).append(cold)
                rows.setdefault(f"reorder classifier/aggregator, drain excluded, {label}", []).append(reorder)
                rows.setdefault(f"reorder back, drain excluded, {label}", []).append(back)
                emu.stop()
                # leave the proxy empty for the next round
                from srchain.targets.proxy import ProxyApi

                api = ProxyApi("px1", f"unix:{sock}", token.read_text())
                api.call("POST", "/v1/batch", {"delete": [s["sid"] for s in api.call("GET", "/v1/sids")["sids"]]})
                for a in api.call("GET", "/v1/attachments")["attachments"]:
                    api.call("DELETE", f"/v1/attachments/{a['vnf']}")
        for name, values in rows.items():
            print(f"{name}: median {statistics.median(values) * 1000:.1f} ms over {len(values)} "
                  f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f})")
        for what in ("reference chain, cold switch (push + bind + entries)",
                     "reorder classifier/aggregator, drain excluded"):
            b = statistics.median(rows[f"{what}, batched"])
            s = statistics.median(rows[f"{what}, one op per batch (baseline)"])
            print(f"ratio one-op-per-batch / batched, {what}: {s / b:.2f}x")
        print("targets: reference chain <= 1000 ms, reorder <= 200 ms")
    finally:
        proc.terminate()
        proc.wait(10)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=8000, help="entries per round (<= 8192: two 4096-entry tables)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="srchain-apply-bench-") as d:
        tmp = Path(d)
        artifacts = tmp / "node"
        compile_to_dir(REPO / "p4/srchain_node.p4", artifacts)
        emu = EmulatorProcess()
        try:
            bench_entries(f"127.0.0.1:{emu.port}", Bundle("srchain_node", artifacts), args.entries, args.rounds)
        finally:
            emu.stop()
        if os.geteuid() != 0:
            print("chain numbers skipped: the proxy needs a network namespace (run as root)")
            return
        bench_chain(tmp, artifacts, args.rounds)


if __name__ == "__main__":
    main()
