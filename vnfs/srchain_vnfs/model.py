"""The classifier's model: a random forest stored as plain JSON and evaluated without scikit-learn.

JSON instead of pickle: loading a model file can never execute code, the file diffs in review, and it does
not depend on the scikit-learn version that trained it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

FORMAT = "srchain-forest/1"
DEFAULT_MODEL = "classifier.json"


class ModelError(ValueError):
    """A model file that is missing, malformed or does not fit the feature layout."""


@dataclass(frozen=True, slots=True)
class Tree:
    feature: tuple[int, ...]  # -1 at leaves
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    leaf_probs: dict[int, tuple[float, ...]]  # node -> class probabilities


@dataclass(frozen=True, slots=True)
class Forest:
    classes: tuple[int, ...]  # class id per probability column
    feature_names: tuple[str, ...]
    trees: tuple[Tree, ...]
    meta: dict[str, Any]

    def predict_proba(self, x: tuple[float, ...] | list[float]) -> list[float]:
        if len(x) != len(self.feature_names):
            raise ModelError(f"vector has {len(x)} values, model expects {len(self.feature_names)}")
        total = [0.0] * len(self.classes)
        for t in self.trees:
            node = 0
            feature, threshold, left, right = t.feature, t.threshold, t.left, t.right
            while feature[node] >= 0:
                node = left[node] if x[feature[node]] <= threshold[node] else right[node]
            for i, p in enumerate(t.leaf_probs[node]):
                total[i] += p
        n = len(self.trees)
        return [v / n for v in total]

    def predict(self, x: tuple[float, ...] | list[float]) -> tuple[int, float]:
        """(class id, probability) of the most likely class."""
        probs = self.predict_proba(x)
        best = max(range(len(probs)), key=probs.__getitem__)
        return self.classes[best], probs[best]

    def to_json(self) -> str:
        doc = {
            "format": FORMAT,
            "classes": list(self.classes),
            "feature_names": list(self.feature_names),
            "meta": self.meta,
            "trees": [
                {
                    "feature": list(t.feature),
                    "threshold": list(t.threshold),
                    "left": list(t.left),
                    "right": list(t.right),
                    "leaf_probs": {str(k): list(v) for k, v in sorted(t.leaf_probs.items())},
                }
                for t in self.trees
            ],
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n"


def parse_forest(text: str) -> Forest:
    try:
        doc = json.loads(text)
        if doc.get("format") != FORMAT:
            raise ModelError(f"unsupported model format {doc.get('format')!r}, expected {FORMAT!r}")
        classes = tuple(int(c) for c in doc["classes"])
        names = tuple(str(n) for n in doc["feature_names"])
        trees = []
        for t in doc["trees"]:
            tree = Tree(
                tuple(int(v) for v in t["feature"]),
                tuple(float(v) for v in t["threshold"]),
                tuple(int(v) for v in t["left"]),
                tuple(int(v) for v in t["right"]),
                {int(k): tuple(float(p) for p in v) for k, v in t["leaf_probs"].items()},
            )
            _check_tree(tree, len(names), len(classes))
            trees.append(tree)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, ModelError):
            raise
        raise ModelError(f"malformed model: {exc!r}") from exc
    if not trees:
        raise ModelError("model has no trees")
    return Forest(classes, names, tuple(trees), dict(doc.get("meta", {})))


def _check_tree(t: Tree, n_features: int, n_classes: int) -> None:
    n = len(t.feature)
    if not n or not len(t.threshold) == len(t.left) == len(t.right) == n:
        raise ModelError("tree arrays differ in length")
    for node in range(n):
        if t.feature[node] >= 0:
            if t.feature[node] >= n_features or not (node < t.left[node] < n and node < t.right[node] < n):
                raise ModelError(f"tree node {node} points outside the tree or the feature vector")
        elif len(t.leaf_probs.get(node, ())) != n_classes:
            raise ModelError(f"leaf {node} has no probabilities for {n_classes} classes")


def load_forest(path: str | Path | None = None) -> Forest:
    """Load a model file; None = the model shipped in the package."""
    if path is None:
        text = resources.files("srchain_vnfs").joinpath("models", DEFAULT_MODEL).read_text()
    else:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ModelError(f"cannot read model {path}: {exc.strerror}") from exc
    return parse_forest(text)
