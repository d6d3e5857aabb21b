"""Trained LightGBM models on disk: one folder per training run, named by its UTC time.

  <root>/<version>/model.txt   the booster
  <root>/<version>/*.json      what the model needs beside it (features, statistics, metrics)
A folder appears whole or not at all (built beside, then renamed). Loading <root> takes the
newest version; loading <root>/<version> pins one.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Mapping, Sequence


def save_model_folder(root: str | Path, booster, files: Mapping[str, object]) -> Path:
    """A new version folder with the booster and each files[name] written as JSON; `files`
    values that are dicts get the version added under "version" when they hold "features"."""
    root = Path(root)
    version = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    while (root / version).exists():
        version += "a"
    staging = root / f".building-{version}"
    staging.mkdir(parents=True)
    booster.save_model(str(staging / "model.txt"))
    for name, content in files.items():
        if isinstance(content, dict) and "features" in content:
            content = {**content, "version": version}
        (staging / name).write_text(json.dumps(content, indent=2))
    os.replace(staging, root / version)  # a half-written model is never a version
    return root / version


def model_versions(root: str | Path) -> list[Path]:
    root = Path(root)
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "model.txt").exists()) if root.is_dir() else []


def resolve_model_folder(path: str | Path, missing: str) -> Path:
    """`path` itself when it is a version folder, else its newest version; `missing` is the
    message when there is none."""
    path = Path(path)
    if (path / "model.txt").exists():
        return path
    found = model_versions(path)
    if not found:
        raise FileNotFoundError(f"{missing} at {path}")
    return found[-1]


def check_features(meta: Mapping, computed: Sequence[str], model: str) -> None:
    """A model is only usable with the features it was trained on, in that order."""
    trained = tuple(meta.get("features", computed))
    if trained != tuple(computed):
        missing = [f for f in computed if f not in trained]
        unknown = [f for f in trained if f not in computed]
        difference = "; ".join(part for part in (
            f"it lacks {', '.join(missing)}" if missing else "",
            f"this engine no longer computes {', '.join(unknown)}" if unknown else "",
            "the same features in another order" if not (missing or unknown) else "") if part)
        raise ValueError(f"{model} was trained on {len(trained)} features, this engine computes {len(computed)}: "
                         f"{difference}; retrain it")
