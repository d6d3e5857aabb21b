"""The relevance ranker: a LightGBM LambdaMART model over the fused candidates (features.py),
stored as a versioned folder like the preference model (model_folders.py)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from search_engine.model_folders import check_features, resolve_model_folder, save_model_folder
from search_engine.understanding.analysis import QUERY_KINDS
from search_engine.understanding.features import RANKER_FEATURES


@dataclass
class RelevanceModel:
    booster: object  # lightgbm.Booster
    meta: dict = field(default_factory=dict)
    version: str = ""

    def __post_init__(self):
        check_features(self.meta, RANKER_FEATURES, f"relevance ranker {self.version or '(unsaved)'}")

    @property
    def ranked_kinds(self) -> tuple[str, ...]:
        """The kinds of query it ranks (chosen by cross-validation when trained); others keep the fused order."""
        return tuple(self.meta.get("ranked_kinds", QUERY_KINDS))

    def score(self, rows: np.ndarray) -> np.ndarray:
        return self.booster.predict(rows, num_threads=1)

    def contributions(self, rows: np.ndarray) -> np.ndarray:
        """Per-feature contributions (SHAP values); the last column is the model's bias."""
        return self.booster.predict(rows, pred_contrib=True, num_threads=1)

    def save(self, root: str | Path) -> Path:
        folder = save_model_folder(root, self.booster, {"meta.json": {**self.meta, "features": list(RANKER_FEATURES)}})
        self.version = folder.name
        return folder


def load_ranker(path: str | Path) -> RelevanceModel:
    import lightgbm

    path = resolve_model_folder(path, "no relevance ranker (train one with search-train ranker)")
    return RelevanceModel(lightgbm.Booster(model_file=str(path / "model.txt")),
                          json.loads((path / "meta.json").read_text()), path.name)
