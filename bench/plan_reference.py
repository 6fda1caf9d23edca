"""Time to validate and plan the reference chain (the controller's first step of every apply).

Baseline measured in the same run: parsing the two YAML files alone. Prints medians and the ratio; also
the same plan through `srchain.chains.ChainService` (the CLI's path: inventory parsed once, chain lock).
Usage: .venv/bin/python bench/plan_reference.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from srchain.chains import ChainService
from srchain.model import load_chain
from srchain.plan import build_plan
from srchain.sidstore import SidStore

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SPEC, INVENTORY = EXAMPLES / "cloud-gaming.yaml", EXAMPLES / "inventory.yaml"


def timed(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    runs = ap.parse_args().runs
    with tempfile.TemporaryDirectory() as state, SidStore(state) as store:
        build_plan(load_chain(SPEC, INVENTORY), store)  # first plan allocates; the rest reuse (the common case)

        def plan() -> None:
            build_plan(load_chain(SPEC, INVENTORY), store)

        def parse_only() -> None:
            yaml.safe_load(SPEC.read_text())
            yaml.safe_load(INVENTORY.read_text())

        t_plan = timed(plan, runs)
        t_yaml = timed(parse_only, runs)
        entries = len(build_plan(load_chain(SPEC, INVENTORY), store).entries)
    with tempfile.TemporaryDirectory() as state:
        service = ChainService(INVENTORY, state)  # what `srchain chain plan|apply` runs: inventory parsed once
        service.plan(service.load(SPEC))

        def service_plan() -> None:
            service.plan(service.load(SPEC))

        t_service = timed(service_plan, runs)
    print(f"validate+plan reference chain: {t_plan * 1e3:.2f} ms median over {runs} runs ({entries} entries)")
    print(f"  through ChainService:        {t_service * 1e3:.2f} ms (spec load + plan under the chain lock)")
    print(f"baseline, YAML parse only:     {t_yaml * 1e3:.2f} ms")
    print(f"ratio plan/parse:              {t_plan / t_yaml:.1f}x")


if __name__ == "__main__":
    main()
