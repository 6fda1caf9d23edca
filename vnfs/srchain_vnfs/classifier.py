"""Classifier: feature vectors (UDP 47003) -> the shipped random forest -> window labels (UDP 47004)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import Field

from srchain_contracts.records import FEATURE_VECTOR_PORT, WINDOW_LABEL_PORT, FeatureVector, WindowLabel

from .model import Forest, load_forest
from .service import Endpoint, UdpService, UdpServiceConfig


class ClassifierConfig(UdpServiceConfig):
    name: str = "classifier"
    listen: Endpoint = Endpoint(port=FEATURE_VECTOR_PORT)
    next_hop: Endpoint = Endpoint(port=WINDOW_LABEL_PORT)
    model: Path | None = None  # None = the model shipped in the package
    issuer_id: int = Field(default=0, ge=0, le=0xFFFF)


class Classifier(UdpService):
    kind = "classifier"
    cfg: ClassifierConfig

    def __init__(self, cfg: ClassifierConfig, forest: Forest | None = None) -> None:
        super().__init__(cfg)
        self.forest = forest if forest is not None else load_forest(cfg.model)

    def label(self, vec: FeatureVector) -> WindowLabel:
        class_id, prob = self.forest.predict(vec.values)
        return WindowLabel(
            vec.key, class_id, vec.seq, self.cfg.issuer_id, min(255, round(prob * 255)), 0, vec.last_seen_ns
        )

    def handle(self, data: bytes) -> Iterable[bytes]:
        vec = FeatureVector.unpack(data)
        if len(vec.values) != len(self.forest.feature_names):
            self.count("dropped:wrong_vector_length")
            return ()
        label = self.label(vec)
        self.count(f"label:{label.class_id}")
        return (label.pack(),)
