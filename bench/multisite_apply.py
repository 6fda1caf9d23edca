"""Apply N chains over 3 sites into 6 emulated switches and 3 SR proxies (issue 20's scale target: 1,000 chains,
>= 50,000 entries, apply <= 60 s; the plan half: bench/multisite_plan.py, whose layout this uses).

One controller (this process, `ChainService.apply_many`: every chain planned in one SID transaction, then one
make-before-break change, each site's targets written by a thread of its own) drives:

- 6 emulated Tofinos, each the emulator's BF Runtime server in a process of its own on 127.0.0.1: the edges run
  the SR node program's profile `full` (flow-features + priority), the borders profile `wan` (MPLS-in-UDP);
- 3 real srchain-proxy daemons (root: a network namespace `sma<pid>` with their interfaces; without root, or
  with --no-proxies, the proxies' entries are left out and said so).

Table sizes: the program's sizes (defines.p4: 1,024 classifier rules, 256 local SIDs, 256 report sessions per
switch) do not hold this layout's edges (333 chains each: ~4,000 rules, ~670 local SIDs); the bench compiles the
emulated program with each of those sizes raised to the next power of two above what the plan puts on one switch,
and prints them. Whether a Tofino holds that many is not measured here.

Printed: the programs' push, loading the specs, the apply's wall time and its parts (plan, read, the engine's
writes per phase and per site, the drain), entries/s, the read-back (every switch table and proxy holds what was
planned), and max RSS of the controller, each switch and each proxy. Baseline, same run (unless --no-baseline):
the same apply into fresh switches and proxies with the sites written one after the other (no per-site threads).

Usage: .venv/bin/python bench/multisite_apply.py [--chains 1000] [--rules 12] [--no-baseline] [--no-proxies]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml
from multisite_plan import SITES, chain_yaml, inventory_yaml

import srchain.chains
from srchain.apply import Options
from srchain.apply.factory import driver_factory
from srchain.chains import ChainService
from srchain.model.load import load_chain_on, load_inventory
from srchain.plan import build_plan
from srchain.plan.model import Entry
from srchain.sidstore import SidStore
from srchain_emu.bundle import compile_to_dir

REPO = Path(__file__).resolve().parents[1]
PROFILES = {"full": {}, "wan": {"SRCHAIN_FLOW_FEATURES": "0", "SRCHAIN_PRIORITY": "0", "SRCHAIN_WAN": "1"}}
SIZES = {  # defines.p4 name -> the tables it sizes
    "CLASSIFIER_SIZE": ["SwitchIngress.classifier.rules"],
    "LOCAL_SID_SIZE": ["SwitchIngress.sr.local_sid_0", "SwitchIngress.sr.local_sid_1"],
    "SID_FORWARD_SIZE": ["SwitchIngress.sr.sid_forward"],
    "ROUTES_SIZE": ["SwitchIngress.ipv4.routes"],
    "REPORT_SESSIONS": ["SwitchIngress.flow_features.report_session", "SwitchEgress.report.encap",
                        "SwitchEgress.report.addresses"],
    "QUEUE_MAP_SIZE": ["SwitchIngress.priority.queue_map"],
}
ATTACH = ("fmt", "cla", "clb", "agg")

# The emulator's BF Runtime server in a child process; with an RTT, every RPC waits that long before it is served
# (the round trip of a switch in a site across the WAN: what the per-site threads are for).
SERVER = """
import sys, time
import grpc
from concurrent import futures
from srchain_contracts.bfrt import bfruntime_pb2_grpc as pb_grpc
from srchain_emu.bfrt_server import BfRuntimeServer
rtt = float(sys.argv[1]) / 1000

class Rtt(grpc.ServerInterceptor):
    def intercept_service(self, continuation, details):
        time.sleep(rtt)
        return continuation(details)

server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), interceptors=[Rtt()] if rtt else [],
                     options=[("grpc.max_send_message_length", 1 << 30), ("grpc.max_receive_message_length", 1 << 30)])
pb_grpc.add_BfRuntimeServicer_to_server(BfRuntimeServer(0), server)
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(port, flush=True)
sys.stdin.read()  # until the bench closes our stdin
server.stop(None).wait(5)
"""


class EmulatorProcess:
    def __init__(self, rtt_ms: float) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER, str(rtt_ms)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
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


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def vm_hwm_mib(pid: int) -> float:
    """A process's peak resident set (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_specs(d: Path, n: int, rules: int) -> list[Path]:
    specs = []
    for i in range(n):
        p = d / f"c{i}.yaml"
        p.write_text(chain_yaml(i, rules))
        specs.append(p)
    return specs


def planned(inv_path: Path, specs: list[Path], state: Path) -> tuple[list[Entry], int]:
    """Every distinct entry of the N plans, and the sum of the plans' entries (a scratch SID store)."""
    inv, _ = load_inventory(inv_path)
    distinct: dict[tuple[str, str, str, str], Entry] = {}
    total = 0
    with SidStore(state) as store:
        for p in specs:
            plan = build_plan(load_chain_on(p, inv, inv_path), store)
            total += len(plan.entries)
            for e in plan.entries:
                distinct.setdefault(e.identity, e)
    return list(distinct.values()), total


def sizes_for(entries: list[Entry]) -> dict[str, int]:
    """Each size define raised to the next power of two above the most any one switch gets (never lowered)."""
    per = Counter((e.target, e.table) for e in entries if e.target_kind == "switch")
    text = (REPO / "p4/include/defines.p4").read_text()
    out = {}
    for name, tables in SIZES.items():
        m = re.search(rf"^#define {name}\s+(\d+)", text, re.M)
        assert m, f"defines.p4 has no {name}"
        need = max((n for (_, table), n in per.items() if table in tables), default=0)
        size = int(m.group(1))
        while size < need:
            size *= 2
        out[name] = size
    return out


def compile_bundles(tmp: Path, sizes: dict[str, int]) -> dict[str, Path]:
    src = tmp / "p4"
    shutil.copytree(REPO / "p4", src, ignore=shutil.ignore_patterns("build", "*.json"))
    defines = src / "include/defines.p4"
    text = defines.read_text()
    for name, size in sizes.items():
        text, n = re.subn(rf"^#define {name}\s+\d+", f"#define {name} {size}", text, flags=re.M)
        assert n == 1, name
    defines.write_text(text)
    out = {}
    for profile, defs in PROFILES.items():
        out[profile] = tmp / f"bundle-{profile}"
        compile_to_dir(src / "srchain_node.p4", out[profile], defines=defs)
    return out


class Proxies:
    """The 3 sites' srchain-proxy daemons in one network namespace (their SR and VNF interfaces are veths)."""

    def __init__(self, tmp: Path) -> None:
        self.ns = f"sma{os.getpid()}"
        tmp.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.sock: dict[str, Path] = {}
        self.token = tmp / "proxy.token"
        self.token.write_text("bench-token-0123456789abcdef")
        self.token.chmod(0o600)
        sh("ip", "netns", "add", self.ns)
        for s in SITES:
            for ifc in [f"px-{s}-sr", *(f"px-{s}-{k}" for k in ATTACH)]:
                sh("ip", "-n", self.ns, "link", "add", ifc, "type", "veth", "peer", "name", f"q{ifc}")
                sh("ip", "-n", self.ns, "link", "set", ifc, "up")
                sh("ip", "-n", self.ns, "link", "set", f"q{ifc}", "up")
            self.sock[s] = tmp / f"px-{s}.sock"
            cfg = tmp / f"px-{s}.yaml"
            cfg.write_text(yaml.safe_dump({
                "sr_iface": f"px-{s}-sr", "sr_next_hop_mac": "02:00:00:00:02:04", "io": "socket",
                "listen": f"unix:{self.sock[s]}", "token_file": str(self.token), "attachments": [], "sids": [],
                "state_file": str(tmp / f"px-{s}.state.json")}))
            self.procs[s] = subprocess.Popen(["ip", "netns", "exec", self.ns, sys.executable, "-m", "srchain_proxy",
                                              "run", "--config", str(cfg)], stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        for s, sock in self.sock.items():
            while not sock.exists():
                if time.monotonic() > deadline or self.procs[s].poll() is not None:
                    raise RuntimeError(f"proxy px-{s} did not start")
                time.sleep(0.05)
        time.sleep(0.3)

    def stop(self) -> dict[str, float]:
        rss = {}
        for s, p in self.procs.items():
            try:
                rss[f"px-{s}"] = vm_hwm_mib(p.pid)
            except OSError:
                rss[f"px-{s}"] = float("nan")
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        return rss


def run(tmp: Path, specs: list[Path], bundles: dict[str, Path], expect: list[Entry], total: int, proxies: bool,
        threads: bool, profile: bool = False, rtt_ms: float = 0.0) -> dict[str, Any]:
    """One apply of every chain into fresh switches (and proxies); what it took and what it left live."""
    tag = "threads" if threads else "sequential"
    out: dict[str, Any] = {"mode": tag + (f", RTT {rtt_ms:g} ms" if rtt_ms else "")}
    with ExitStack() as stack:
        emus = {}
        for s in SITES:
            for role in ("edge", "border"):
                emu = EmulatorProcess(rtt_ms)
                stack.callback(emu.stop)
                emus[f"{s}-{role}"] = emu
        px = None
        if proxies:
            px = Proxies(tmp / f"px-{tag}")  # (Proxies makes its files under its own folder)
            rss_px: dict[str, float] = {}
            stack.callback(lambda: rss_px.update(px.stop()))  # type: ignore[union-attr]
        inv = yaml.safe_load(inventory_yaml())
        for sw in inv["switches"]:
            sw["grpc"] = f"127.0.0.1:{emus[sw['name']].port}"
            sw["artifacts"] = str(bundles["wan" if sw["name"].endswith("border") else "full"])
        if px is not None:
            for p in inv["proxies"]:
                site = p["name"].removeprefix("px-")
                p.update(control=f"unix:{px.sock[site]}", token_file=str(px.token))
        else:  # no proxies: a chain's proxy entries are left out (the service still plans them)
            pass
        inv_path = tmp / f"inventory-{tag}.yaml"
        inv_path.write_text(yaml.safe_dump(inv, sort_keys=False))
        inventory, _ = load_inventory(inv_path)

        # programs pushed first (the emulator compiles the P4 program): what a switch's first apply adds
        t = time.perf_counter()
        drivers = driver_factory(inventory, tmp)
        for name in emus:
            d = drivers("switch", name)
            d.prepare(True)
            d.close()
        out["push_s"] = time.perf_counter() - t

        if not threads:
            stack.enter_context(_no_site_threads())
        svc = ChainService(inv_path, tmp / f"state-{tag}", options=Options(drain_interval=0.05, drain_timeout=5))
        if px is None:
            stack.enter_context(_switches_only())
        t, c = time.perf_counter(), time.process_time()
        models = [svc.load(p) for p in specs]
        out["load_s"] = time.perf_counter() - t
        prof = cProfile.Profile() if profile else None
        t = time.perf_counter()
        if prof is not None:
            prof.enable()
        done = svc.apply_many(models)
        out["apply_s"] = time.perf_counter() - t
        if prof is not None:
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
        out["cpu_s"] = time.process_time() - c
        result = done[0].result
        out["planned"] = sum(len(d.plan.entries) for d in done)
        out["ops"] = len(result.ops)
        out["batches"] = result.batches
        out["timings"] = dict(result.timings)
        out["sites"] = {s: (r.ops, r.batches, r.seconds) for s, r in sorted(result.sites.items())}

        # read back: every target holds every distinct planned entry with its planned content (the engine's own
        # comparison, as `srchain chain status` makes it: driver.norm vs a snapshot of the target's tables)
        t = time.perf_counter()
        factory = driver_factory(inventory, tmp)
        by_target: dict[tuple[str, str], list[Entry]] = {}
        for e in expect:
            by_target.setdefault((e.target_kind, e.target), []).append(e)
        same = differ = missing = 0
        for (kind, name), es in sorted(by_target.items()):
            drv = factory(kind, name)
            try:
                drv.prepare(False)
                live = drv.snapshot({e.table for e in es})
                for e in es:
                    nk, content = drv.norm(e)
                    got = live.get(nk)
                    if got is None:
                        missing += 1
                    elif got[0] != content:
                        differ += 1
                    else:
                        same += 1
            finally:
                drv.close()
        out["readback_s"] = time.perf_counter() - t
        out["readback"] = (same, differ, missing)
        out["rss_switch"] = {name: vm_hwm_mib(emu.proc.pid) for name, emu in emus.items()}
    out["rss_proxy"] = rss_px if proxies else {}
    out["rss_controller"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["total_planned"] = total
    return out


class _no_site_threads:
    """The baseline: every site's targets written from one thread, one site after the other."""

    def __enter__(self) -> None:
        self.real = srchain.chains.target_sites
        srchain.chains.target_sites = lambda inv: {}  # type: ignore[assignment]

    def __exit__(self, *exc: object) -> None:
        srchain.chains.target_sites = self.real  # type: ignore[assignment]


class _switches_only:
    """--no-proxies: plans keep only their switch entries (the apply then never contacts a proxy)."""

    def __enter__(self) -> None:
        import srchain.plan.builder as builder

        self.builder = builder
        self.real = builder.plan_in

        def switches(model: Any, tx: Any) -> Any:
            plan = self.real(model, tx)
            plan.entries = [e for e in plan.entries if e.target_kind == "switch"]
            return plan

        srchain.chains.plan_in = switches  # type: ignore[assignment]

    def __exit__(self, *exc: object) -> None:
        srchain.chains.plan_in = self.real  # type: ignore[assignment]


def report(r: dict[str, Any], n: int) -> None:
    t = r["timings"]
    engine = t.get("total_s", 0.0)
    print(f"  [{r['mode']}] programs pushed to 6 switches {r['push_s']:.1f} s; {n} specs loaded {r['load_s']:.2f} s")
    print(f"  [{r['mode']}] apply_many: {r['apply_s']:.2f} s wall ({r['cpu_s']:.2f} s controller CPU incl. load): "
          f"plan + connect + read + diff {r['apply_s'] - engine - t.get('save_s', 0):.2f} s, writes {engine:.2f} s "
          f"(install+flip {t.get('install+flip_s', 0):.2f}, drain {t.get('drain_s', 0):.2f}), applied state saved "
          f"{t.get('save_s', 0):.2f} s; {r['planned']} entries planned, "
          f"{r['ops']} written (distinct) in {r['batches']} batches = {r['ops'] / r['apply_s']:,.0f} entries/s "
          f"({r['ops'] / engine if engine else 0:,.0f}/s in the writes)")
    for site, (ops, batches, secs) in r["sites"].items():
        print(f"  [{r['mode']}]   site {site}: {ops} ops in {batches} batches, {secs:.2f} s writing")
    same, differ, missing = r["readback"]
    print(f"  [{r['mode']}] read back every target in {r['readback_s']:.1f} s: {same} entries as planned, "
          f"{differ} different, {missing} missing")
    sw = ", ".join(f"{k} {v:.0f}" for k, v in r["rss_switch"].items())
    px = ", ".join(f"{k} {v:.0f}" for k, v in r["rss_proxy"].items())
    print(f"  [{r['mode']}] max RSS MiB: controller {r['rss_controller']:.0f}; switches {sw}"
          + (f"; proxies {px}" if px else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chains", type=int, default=1000)
    ap.add_argument("--rules", type=int, default=12)
    ap.add_argument("--no-baseline", action="store_true", help="skip the one-site-after-the-other run")
    ap.add_argument("--no-proxies", action="store_true", help="switches only (no root needed)")
    ap.add_argument("--profile", action="store_true", help="cProfile the (per-site threads) apply_many, top 30")
    ap.add_argument("--rtt-ms", type=float, default=0.0,
                    help="every switch RPC waits this long first (a WAN round trip; the proxies stay local)")
    args = ap.parse_args()
    proxies = not args.no_proxies and os.geteuid() == 0
    with tempfile.TemporaryDirectory(prefix="srchain-multisite-apply-") as d:
        tmp = Path(d)
        (tmp / "inventory.yaml").write_text(inventory_yaml())
        specs = write_specs(tmp, args.chains, args.rules)
        expect, total = planned(tmp / "inventory.yaml", specs, tmp / "scratch")
        if not proxies:
            expect = [e for e in expect if e.target_kind == "switch"]
        sizes = sizes_for(expect)
        t = time.perf_counter()
        bundles = compile_bundles(tmp, sizes)
        print(f"{args.chains} chains, {args.rules} rules each, 3 sites, 6 emulated switches (processes), "
              f"{'3 srchain-proxy daemons' if proxies else 'no proxies (their entries left out)'}; "
              f"{total} entries planned, {len(expect)} distinct; load average {os.getloadavg()[0]:.2f}")
        print(f"  table sizes compiled: {', '.join(f'{k} {v}' for k, v in sizes.items())} "
              f"(profiles full, wan: {time.perf_counter() - t:.1f} s)")
        new = run(tmp, specs, bundles, expect, total, proxies, threads=True, profile=args.profile, rtt_ms=args.rtt_ms)
        report(new, args.chains)
        if not args.no_baseline:
            base = run(tmp, specs, bundles, expect, total, proxies, threads=False, rtt_ms=args.rtt_ms)
            report(base, args.chains)
            print(f"  sequential / per-site threads: apply {base['apply_s'] / new['apply_s']:.2f}x, writes "
                  f"{base['timings']['total_s'] / new['timings']['total_s']:.2f}x")
        print(f"  target: apply <= 60 s; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
