"""`make model`: seeded, reproducible training of the window classifier from the traffic generator.

Data path = production path: generated sessions -> FlowFeatureTable (the P4 module's model) -> feature
reports -> SessionWindows (the formatter's logic) -> vectors labelled with the session's class. Train and
held-out sets come from disjoint seeds. The output JSON is byte-identical for the same arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import precision_recall_fscore_support

from srchain_contracts.records import TrafficClass

from .features import FlowFeatureTable, Placement, session_reports
from .model import Forest, Tree
from .profiles import PROFILES, generate
from .vectors import FEATURE_NAMES, SessionWindows

HELD_OUT_SEED_BASE = 1_000_000


@dataclass(frozen=True, slots=True)
class TrainConfig:
    seed: int = 7
    sessions_per_profile: int = 40
    held_out_per_profile: int = 15
    duration_s: float = 10.0
    max_packets: int = 6000
    report_every: int = 16
    depth: int = 4
    trees: int = 24
    max_depth: int = 10
    min_samples_leaf: int = 4


def build_dataset(cfg: TrainConfig, seed_base: int, per_profile: int) -> tuple[np.ndarray, np.ndarray]:
    xs: list[tuple[float, ...]] = []
    ys: list[int] = []
    place = Placement(0x0A000002, 40000, 0x0A000001, 443)
    for profile in PROFILES:
        for i in range(per_profile):
            session = generate(profile, seed_base + i, cfg.duration_s, cfg.max_packets)
            table = FlowFeatureTable(report_every=cfg.report_every)
            windows = SessionWindows(depth=cfg.depth)
            for report, s in session_reports([(session, place)], table):
                xs.append(windows.update(report))
                ys.append(int(s.class_id))
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.int64)


def _round(v: float) -> float:
    return float(f"{v:.6g}")


def export_forest(rf: RandomForestClassifier, meta: dict[str, object]) -> Forest:
    trees = []
    for est in rf.estimators_:
        t = est.tree_
        leaf_probs: dict[int, tuple[float, ...]] = {}
        for node in range(t.node_count):
            if t.children_left[node] < 0:
                counts = t.value[node][0]
                total = float(counts.sum()) or 1.0
                leaf_probs[node] = tuple(_round(float(c) / total) for c in counts)
        # A threshold exactly representable in float32 keeps `x <= t` identical for the float32 vectors.
        thresholds = tuple(
            _round(float(np.float32(v))) if f >= 0 else -2.0
            for f, v in zip(t.feature, t.threshold, strict=True)
        )
        trees.append(Tree(
            tuple(int(f) if f >= 0 else -1 for f in t.feature), thresholds,
            tuple(int(v) for v in t.children_left), tuple(int(v) for v in t.children_right), leaf_probs,
        ))
    return Forest(tuple(int(c) for c in rf.classes_), FEATURE_NAMES, tuple(trees), meta)


def train(cfg: TrainConfig) -> tuple[Forest, dict[str, dict[str, float]]]:
    """Train on seeds [seed*1000, …) and evaluate on held-out seeds; returns the model and per-class scores."""
    x_train, y_train = build_dataset(cfg, cfg.seed * 1000, cfg.sessions_per_profile)
    x_test, y_test = build_dataset(cfg, HELD_OUT_SEED_BASE + cfg.seed * 1000, cfg.held_out_per_profile)
    # The services see float32 values (the feature vector record); train on exactly those.
    x_train = x_train.astype(np.float32).astype(np.float64)
    rf = RandomForestClassifier(
        n_estimators=cfg.trees, max_depth=cfg.max_depth, min_samples_leaf=cfg.min_samples_leaf,
        class_weight="balanced", random_state=cfg.seed, n_jobs=1,
    )
    rf.fit(x_train, y_train)
    scores: dict[str, dict[str, float]] = {}
    forest = export_forest(rf, {})
    predicted = np.asarray([forest.predict(tuple(row))[0] for row in x_test.astype(np.float32).tolist()])
    labels = [int(c) for c in rf.classes_]
    prec, rec, f1, support = precision_recall_fscore_support(y_test, predicted, labels=labels, zero_division=0)
    for i, c in enumerate(labels):
        scores[TrafficClass(c).name.lower()] = {
            "precision": round(float(prec[i]), 4), "recall": round(float(rec[i]), 4),
            "f1": round(float(f1[i]), 4), "support": int(support[i]),
        }
    meta = {
        "trained_by": "python -m srchain_vnfs.train (make model)",
        "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
        "train_windows": len(y_train),
        "held_out_windows": len(y_test),
        "held_out_accuracy": round(float((predicted == y_test).mean()), 4),
        "held_out": scores,
    }
    return Forest(forest.classes, forest.feature_names, forest.trees, meta), scores


def main() -> None:
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(Path(__file__).parent / "models" / "classifier.json"))
    parser.add_argument("--seed", type=int, default=TrainConfig().seed)
    parser.add_argument("--sessions", type=int, default=TrainConfig().sessions_per_profile)
    parser.add_argument("--held-out", type=int, default=TrainConfig().held_out_per_profile)
    args = parser.parse_args()
    cfg = TrainConfig(seed=args.seed, sessions_per_profile=args.sessions, held_out_per_profile=args.held_out)
    forest, scores = train(cfg)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(forest.to_json())
    print(f"wrote {out} ({out.stat().st_size} bytes), held-out accuracy {forest.meta['held_out_accuracy']}")
    print(f"{'class':<14}{'precision':>10}{'recall':>10}{'f1':>8}{'windows':>9}")
    for name, s in scores.items():
        print(f"{name:<14}{s['precision']:>10.3f}{s['recall']:>10.3f}{s['f1']:>8.3f}{s['support']:>9}")


if __name__ == "__main__":
    main()
