"""Plan time and memory of N chains over 3 sites and 6 switches (issue 20's scale target: 1,000 chains,
>= 50,000 entries, plan <= 10 s; the apply half is not measured here).

Each site has an edge switch (its hosts, the chains' classifiers and P4 modules) and a border switch (its SR
proxy, WAN links to both other sites: MPLS-in-UDP). Chain i lives at site i % 3: flow-features and priority on
its edge switch, the formatter and 2 classifier instances behind the next site's proxy, the aggregator behind
the third site's: its report path crosses 3 WAN links. Each chain has RULES classifier rules of its own match.
Every chain is validated from its YAML file and planned into one SID store (one transaction per chain, as
`srchain chain plan` does). "entries" sums the plans; "distinct" counts each (target, table, key) once (rows
such as routes, TM queues, attachments and WAN decapsulation are shared by the chains).

Usage: .venv/bin/python bench/multisite_plan.py [--chains 10 100 1000] [--rules 12] [--tracemalloc]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import yaml

from srchain.model.load import load_chain_on, load_inventory
from srchain.plan import build_plan
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


def run(n: int, rules: int, trace: bool) -> None:
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
        t0, c0 = time.perf_counter(), time.process_time()
        inv, _ = load_inventory(inv_path)
        plans = []
        with SidStore(d / "state") as store:
            for p in specs:
                plans.append(build_plan(load_chain_on(p, inv, inv_path), store))
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = tracemalloc.get_traced_memory()[1] if trace else None
        if trace:
            tracemalloc.stop()
        c1 = time.process_time()  # baseline: only reading the same YAML files (the fast C loader)
        for p in [inv_path, *specs]:
            yaml.load(p.read_text(), Loader=yaml.CSafeLoader)
        parse = time.process_time() - c1
    total = sum(len(p.entries) for p in plans)
    distinct = len({e.identity for p in plans for e in p.entries})
    crossings = sum(len(p.sites["crossings"]) for p in plans if p.sites)  # type: ignore[arg-type]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mem = f"{peak / 2**20:7.1f} MiB traced" if peak is not None else f"{rss:7.1f} MiB max RSS"
    print(f"{n:6d} chains  {total:7d} entries ({distinct:6d} distinct)  {crossings:5d} WAN crossings  "
          f"plan {elapsed:6.2f} s wall, {cpu:6.2f} s CPU ({cpu / n * 1e3:5.2f} ms/chain)  {mem}; "
          f"baseline YAML read {parse:5.2f} s CPU (plan/read {cpu / parse:4.0f}x)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chains", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--rules", type=int, default=12, help="classifier rules per chain (12: 50 entries a chain)")
    ap.add_argument("--tracemalloc", action="store_true", help="peak Python heap (slower) instead of max RSS")
    args = ap.parse_args()
    print(f"3 sites, 6 switches, 3 proxies, 3 WAN links (MPLS-in-UDP); {args.rules} rules per chain")
    for n in args.chains:
        run(n, args.rules, args.tracemalloc)


if __name__ == "__main__":
    main()
