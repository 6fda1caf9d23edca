"""Plan time and memory of N chains over 3 sites and 6 switches (issue 20's scale target: 1,000 chains,
>= 50,000 entries, plan <= 10 s; the apply half: bench/multisite_apply.py).

Each site has an edge switch (its hosts, the chains' classifiers and P4 modules) and a border switch (its SR
proxy, WAN links to both other sites: MPLS-in-UDP). Chain i lives at site i % 3: flow-features and priority on
its edge switch, the formatter and 2 classifier instances behind the next site's proxy, the aggregator behind
the third site's: its report path crosses 3 WAN links. Each chain has RULES classifier rules of its own match.
Every chain is validated from its YAML file and planned into one SID store (one transaction per chain, as
`srchain chain plan` does). "entries" sums the plans; "distinct" counts each (target, table, key) once (rows
such as routes, TM queues, attachments and WAN decapsulation are shared by the chains).

Baseline, same run: the same plans with every file read by the line-keeping YAML reader (the only reader before
the fast path, srchain.model.yamlsource). Each measurement runs in a process of its own (its max RSS is its own).
"fast, 1 tx": the fast path with every chain planned in one SID transaction (one commit, one fsync), as
`ChainService.apply_many` plans a batch. Then what the readers alone cost on the same files: libyaml as PyYAML's
CSafeLoader builds data, the fast path (libyaml + the duplicate-key check), the line-keeping reader.

Usage: .venv/bin/python bench/multisite_plan.py [--chains 10 100 1000] [--rules 12] [--tracemalloc] [--no-baseline]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from contextlib import nullcontext
from pathlib import Path

import yaml

from srchain.model.load import load_chain_on, load_inventory
from srchain.model.yamlsource import line_keeping, load_yaml
from srchain.plan import build_plan
from srchain.plan.builder import plan_in
from srchain.sidstore import SidStore

SITES = ("a", "b", "c")


LINKS = (("a", "b"), ("b", "c"), ("a", "c"))


def inventory_yaml() -> str:
    sites, wan, switches, hosts, proxies, vnfs = [], [], [], [], [], []
    wan_ports: dict[str, list[str]] = {s: [] for s in SITES}
    for i, (x, y) in enumerate(LINKS):
        port = 9 + i
        wan.append(f"""  - name: {x}{y}
    a: {{switch: {x}-border, port: {port}, address: 198.51.100.{4 * i + 1}}}
    b: {{switch: {y}-border, port: {port}, address: 198.51.100.{4 * i + 2}}}
    mtu: 9000
    delay_ms: {10 * (i + 1)}""")
        for s in (x, y):
            n = SITES.index(s)
            mac = f"02:00:00:{n:02x}:02:{port:02x}"
            wan_ports[s].append(f'      - {{port: {port}, mac: "{mac}", peer: {{wan: {x}{y}}}}}')
    for n, s in enumerate(SITES):
        sites.append(f"  - {{name: site-{s}, vim_account: vim-{s}, switches: [{s}-edge, {s}-border], "
                     f"proxies: [px-{s}], hosts: [h-{s}], addresses: [10.{n}.0.0/16]}}")
        hosts.append(f'  - {{name: h-{s}, mac: "02:00:00:{n:02x}:10:01", ipv4: 10.{n}.1.10}}')
        switches.append(f"""  - name: {s}-edge
    grpc: 127.0.0.1:{50100 + 2 * n}
    ports:
      - {{port: 1, mac: "02:00:00:{n:02x}:01:01", peer: {{host: h-{s}}}}}
      - {{port: 8, mac: "02:00:00:{n:02x}:01:08", peer: {{switch: {s}-border, port: 8}}}}
  - name: {s}-border
    grpc: 127.0.0.1:{50101 + 2 * n}
    ports:
      - {{port: 8, mac: "02:00:00:{n:02x}:02:08", peer: {{switch: {s}-edge, port: 8}}}}
      - {{port: 4, mac: "02:00:00:{n:02x}:02:04", peer: {{proxy: px-{s}}}}}
""" + "\n".join(wan_ports[s]))
        kinds = ("fmt", "cla", "clb", "agg")
        proxies.append(f"""  - name: px-{s}
    control: unix:/run/srchain/px-{s}.sock
    sr_interface: px-{s}-sr
    mac: "02:00:00:{n:02x}:40:01"
    attachments:
""" + "\n".join(f"      - {{vnf: {k}-{s}, iface: px-{s}-{k}}}" for k in kinds))
        vnfs += [f"  - {{name: {k}-{s}, kind: {k}}}" for k in kinds]
    return "\n".join(["sites:", *sites, "wan:", *wan, "switches:", *switches, "hosts:", *hosts, "proxies:", *proxies,
                      "vnfs:", *vnfs]) + "\n"


def chain_yaml(i: int, rules: int) -> str:
    home, nxt, third = SITES[i % 3], SITES[(i + 1) % 3], SITES[(i + 2) % 3]
    rule_lines = "\n".join(f"    - {{name: r{r}, match: {{protocol: udp, src_port: {1024 + i}, dst_port: {2000 + r}}}}}"
                           for r in range(rules))
    return f"""chain: c{i}
classifier:
  switch: {home}-edge
  rules:
{rule_lines}
segments:
  - {{name: features, switch: {home}-edge, module: flow-features, params: {{report_every: 32}}}}
  - {{name: formatter, vnf: fmt-{nxt}, proxy: px-{nxt}, behaviour: static, traffic: reports}}
  - {{name: classifier, vnf: [cla-{nxt}, clb-{nxt}], proxy: px-{nxt}, behaviour: static, traffic: reports}}
  - {{name: aggregator, vnf: agg-{third}, proxy: px-{third}, behaviour: static, traffic: reports}}
  - {{name: priority, switch: {home}-edge, module: priority, params: {{queues: {{1: 7}}}}}}
"""


def run(n: int, rules: int, trace: bool, line_keeping_only: bool, one_tx: bool = False) -> dict[str, float]:
    """One measurement, in a process of its own (so max RSS is this run's)."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        inv_path = d / "inventory.yaml"
        inv_path.write_text(inventory_yaml())
        specs = []
        for i in range(n):
            p = d / f"c{i}.yaml"
            p.write_text(chain_yaml(i, rules))
            specs.append(p)
        if trace:
            tracemalloc.start()
        with line_keeping() if line_keeping_only else nullcontext():
            t0, c0 = time.perf_counter(), time.process_time()
            inv, _ = load_inventory(inv_path)
            plans = []
            with SidStore(d / "state") as store:
                if one_tx:  # as ChainService.apply_many plans a batch: one SID transaction (one commit)
                    with store.transaction() as tx:
                        plans = [plan_in(load_chain_on(p, inv, inv_path), tx) for p in specs]
                else:
                    for p in specs:
                        plans.append(build_plan(load_chain_on(p, inv, inv_path), store))
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = tracemalloc.get_traced_memory()[1] if trace else None
        if trace:
            tracemalloc.stop()
        files = [inv_path, *specs]
        read: dict[str, float] = {}
        if not line_keeping_only:  # what the YAML readers alone cost on the same files (CPU)
            for name, how in (("libyaml", _libyaml), ("fast", load_yaml), ("line_keeping", _line_keeping)):
                c1 = time.process_time()
                for p in files:
                    how(p)
                read[name] = time.process_time() - c1
    return {
        "chains": n,
        "entries": sum(len(p.entries) for p in plans),
        "distinct": len({e.identity for p in plans for e in p.entries}),
        "crossings": sum(len(p.sites["crossings"]) for p in plans if p.sites),  # type: ignore[arg-type]
        "wall": elapsed,
        "cpu": cpu,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "traced_mib": peak / 2**20 if peak is not None else -1.0,
        **{f"read_{k}": v for k, v in read.items()},
    }


def _libyaml(p: Path) -> object:
    """libyaml alone, as PyYAML's CSafeLoader builds the data (no duplicate-key check, no lines)."""
    return yaml.load(p.read_text(), Loader=yaml.CSafeLoader)


def _line_keeping(p: Path) -> object:
    with line_keeping():
        return load_yaml(p).data


def _measure(n: int, rules: int, trace: bool, line_keeping_only: bool, one_tx: bool = False) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--one", str(n), "--rules", str(rules)]
    cmd += ["--one-transaction"] if one_tx else []
    cmd += ["--tracemalloc"] if trace else []
    cmd += ["--line-keeping"] if line_keeping_only else []
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.splitlines()[-1])
    return result


def _line(what: str, r: dict[str, float]) -> str:
    mem = f"{r['traced_mib']:6.1f} MiB traced" if r["traced_mib"] >= 0 else f"{r['rss_mib']:6.1f} MiB max RSS"
    return (f"{r['chains']:6.0f} chains {what:13s} {r['entries']:7.0f} entries ({r['distinct']:6.0f} distinct) "
            f"{r['crossings']:5.0f} WAN crossings  plan {r['wall']:6.2f} s wall, {r['cpu']:6.2f} s CPU "
            f"({r['cpu'] / r['chains'] * 1e3:5.2f} ms/chain)  {mem}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chains", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--rules", type=int, default=12, help="classifier rules per chain (12: 52 entries a chain)")
    ap.add_argument("--tracemalloc", action="store_true", help="peak Python heap (slower) instead of max RSS")
    ap.add_argument("--no-baseline", action="store_true", help="skip the line-keeping YAML reader's run")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # one measurement in this process, as JSON
    ap.add_argument("--line-keeping", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--one-transaction", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(run(args.one, args.rules, args.tracemalloc, args.line_keeping, args.one_transaction)))
        return
    print(f"3 sites, 6 switches, 3 proxies, 3 WAN links (MPLS-in-UDP); {args.rules} rules per chain; "
          f"load average {os.getloadavg()[0]:.2f}; each run in a process of its own")
    for n in args.chains:
        base = None if args.no_baseline else _measure(n, args.rules, args.tracemalloc, True)
        new = _measure(n, args.rules, args.tracemalloc, False)
        batch = _measure(n, args.rules, args.tracemalloc, False, one_tx=True)
        if base is not None:
            print(_line("line-keeping", base))
        print(_line("fast", new))
        print(_line("fast, 1 tx", batch))
        if base is not None:
            ratio = f"{base['wall'] / new['wall']:.2f}x wall, {base['cpu'] / new['cpu']:.2f}x CPU"
            print(f"{'':20s} baseline/fast: {ratio}")
        print(f"{'':20s} YAML reads alone ({n + 1} files, CPU): libyaml {new['read_libyaml']:.2f} s, fast path "
              f"(+ duplicate keys) {new['read_fast']:.2f} s, line-keeping {new['read_line_keeping']:.2f} s; "
              f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
