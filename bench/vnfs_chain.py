"""Bench: per-record cost of the VNF chain's logic, against record decoding alone (baseline, same run).

Run: .venv/bin/python bench/vnfs_chain.py
Bounded: a fixed set of generated sessions, each stage timed over the same records.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from srchain_contracts.records import FeatureReport, FeatureVector, WindowLabel, ip_to_int
from srchain_vnfs.aggregator import Aggregator, AggregatorConfig
from srchain_vnfs.classifier import Classifier, ClassifierConfig
from srchain_vnfs.features import FlowFeatureTable, Placement, session_reports
from srchain_vnfs.formatter import Formatter, FormatterConfig
from srchain_vnfs.profiles import PROFILES, generate
from srchain_vnfs.service import Endpoint


def rate(fn: Callable[[bytes], object], items: list[bytes]) -> float:
    start = time.perf_counter()
    for item in items:
        fn(item)
    return len(items) / (time.perf_counter() - start)


def main() -> None:
    placed = [
        (generate(p, 900 + i, 4.0, 3000), Placement(ip_to_int(f"10.9.0.{i + 2}"), 40000, ip_to_int("10.8.0.1"), 443))
        for i, p in enumerate(list(PROFILES) * 2)
    ]
    events = sum(len(s.events) for s, _ in placed)
    t0 = time.perf_counter()
    reports = [r.pack() for r, _ in session_reports(placed, FlowFeatureTable())]
    p4_model_pps = events / (time.perf_counter() - t0)

    ep = Endpoint(port=0)
    fmt = Formatter(FormatterConfig(listen=ep, next_hop=ep))
    cls = Classifier(ClassifierConfig(listen=ep, next_hop=ep))
    agg = Aggregator(AggregatorConfig(listen=ep, next_hop=ep))
    vectors = [next(iter(fmt.handle(r))) for r in reports]
    labels = [next(iter(cls.handle(v))) for v in vectors]

    baseline = rate(FeatureReport.unpack, reports)
    stages = {
        "formatter (report -> vector)": rate(fmt.handle, reports),
        "classifier (vector -> label)": rate(cls.handle, vectors),
        "aggregator (label -> decision)": rate(agg.handle, labels),
    }
    print(f"records: {len(reports)} feature reports from {events} packets of {len(placed)} sessions")
    print(f"P4 flow-features model: {p4_model_pps:,.0f} packets/s")
    print(f"baseline FeatureReport.unpack: {baseline:,.0f} records/s")
    for name, r in stages.items():
        print(f"{name:<32} {r:>10,.0f} records/s  ({r / baseline:.3f} x baseline)")
    assert FeatureVector.unpack(vectors[0]) and WindowLabel.unpack(labels[0])


if __name__ == "__main__":
    main()
