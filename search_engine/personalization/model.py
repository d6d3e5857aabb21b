"""The preference model on disk: a versioned folder per training run.

  <root>/<version>/model.txt     the LightGBM booster
  <root>/<version>/meta.json     feature list, parameters, training data summary, metrics
  <root>/<version>/stats.json    product popularity and click-through counts it was trained with
  <root>/<version>/catalog.json  price bands and brand, category and facet value priors
Loading <root> takes the newest version; loading <root>/<version> pins one.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from search_engine.model_folders import check_features, resolve_model_folder, save_model_folder
from search_engine.personalization.features import FEATURES, CatalogPriors
from search_engine.personalization.product_stats import ProductStats
from search_engine.personalization.profiles import PriceBands


@dataclass
class PreferenceModel:
    booster: object  # lightgbm.Booster
    stats: ProductStats
    bands: PriceBands
    priors: CatalogPriors
    meta: dict = field(default_factory=dict)
    version: str = ""

    def __post_init__(self):
        check_features(self.meta, FEATURES, f"preference model {self.version or '(unsaved)'}")

    @property
    def prior_scale(self) -> float:
        """The weight of the unpersonalized order the trees learned their correction to."""
        return float(self.meta["prior_scale"])

    def score(self, rows: np.ndarray) -> np.ndarray:
        """The correction to the unpersonalized order (features.order_prior at prior_scale)."""
        return self.booster.predict(rows, num_threads=1)

    def contributions(self, rows: np.ndarray) -> np.ndarray:
        """Per-feature contributions (SHAP values); the last column is the model's bias."""
        return self.booster.predict(rows, pred_contrib=True, num_threads=1)

    def save(self, root: str | Path) -> Path:
        folder = save_model_folder(root, self.booster, {
            "meta.json": {**self.meta, "features": list(FEATURES)},
            "stats.json": self.stats.to_dict(),
            "catalog.json": {"bands": self.bands.to_dict(), "brands": dict(self.priors.brands),
                             "categories": dict(self.priors.categories), "values": dict(self.priors.values)},
        })
        self.version = folder.name
        return folder


def load_model(path: str | Path) -> PreferenceModel:
    import lightgbm

    path = resolve_model_folder(path, "no preference model (train one with search-personalize train)")
    catalog = json.loads((path / "catalog.json").read_text())
    return PreferenceModel(
        booster=lightgbm.Booster(model_file=str(path / "model.txt")),
        stats=ProductStats.from_dict(json.loads((path / "stats.json").read_text())),
        bands=PriceBands.from_dict(catalog["bands"]),
        priors=CatalogPriors(catalog["brands"], catalog["categories"], catalog.get("values", {})),
        meta=json.loads((path / "meta.json").read_text()),
        version=path.name,
    )
