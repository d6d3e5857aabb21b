"""Engines over index versions other than the serving one, for side-by-side comparison.

A version staged with a new encoder (search-reindex full --no-switch) or an older one kept
for rollback can be searched next to the serving version without serving it. Each is opened
on first use with the towers it was built with (the serving towers when they match) and a
few are kept open.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from functools import partial
from pathlib import Path
from typing import Callable

from encoders.exported_tower import exports_folder
from encoders.towers import Towers
from indexer import versions
from indexer.search_index import SearchIndex
from search_engine.engine import Engine


class UnknownVersionError(ValueError):
    """No such version on disk, or it cannot be opened here (say, its tower is not reachable)."""


class VersionEngines:
    def __init__(self, root: Path, open_index: Callable[[Path], SearchIndex],
                 load_towers: Callable[[dict], Towers] | None = None, keep: int = 2):
        """load_towers: a manifest's encoder entry to its towers (default: Towers.for_index,
        trying the exports under root first)."""
        self.root = Path(root)
        self.open_index = open_index
        self.load_towers = load_towers or partial(Towers.for_index, exports=[exports_folder(self.root)])
        self.keep = keep
        self._open: OrderedDict[str, Engine] = OrderedDict()
        self._lock = threading.Lock()  # guards _open
        self._loading = threading.Lock()  # one version loads at a time: an index and maybe a model

    def describe(self, serving: str) -> list[dict]:
        """Every complete version on disk with the encoder it was built with, newest first."""
        described = []
        for version in reversed(versions.list_versions(self.root)):
            manifest = versions.read_manifest(versions.version_dir(self.root, version))
            described.append({"version": version, "serving": version == serving,
                              "encoder": manifest["encoder"]["model"],
                              "fingerprint": manifest["encoder"]["fingerprint"],
                              "backend": manifest["encoder"].get("backend", "torch"),
                              "products": manifest.get("product_count")})
        return described

    def engine(self, serving: Engine, version: str) -> Engine:
        """The serving engine's settings, reranker and rules over `version`."""
        if version == serving.index.version:
            return serving
        if version not in versions.list_versions(self.root):
            raise UnknownVersionError(f"no complete index version {version!r} under {self.root}")
        opened = self._cached(version)
        if opened is None:
            with self._loading:
                opened = self._cached(version) or self._load(serving, version)
        # Settings and rules as the serving engine has them now.
        return Engine(opened.index, opened.towers, serving.config, opened.query_vectors, serving.reranker,
                      serving.rules, serving.ranker, opened.vocabulary, opened.spelling, opened.phrases,
                      serving.synonyms, serving.popular_queries)

    def _cached(self, version: str) -> Engine | None:
        with self._lock:
            opened = self._open.get(version)
            if opened is not None:
                self._open.move_to_end(version)
            return opened

    def _load(self, serving: Engine, version: str) -> Engine:
        try:
            index = self.open_index(versions.version_dir(self.root, version))
            same_encoder = index.manifest["encoder"]["fingerprint"] == serving.towers.product.fingerprint
            towers = serving.towers if same_encoder else self.load_towers(index.manifest["encoder"])
            opened = Engine(index, towers, serving.config)
        except Exception as exc:  # a missing model, a cluster that is down: say so, keep serving
            raise UnknownVersionError(f"cannot open index version {version}: {exc}") from exc
        with self._lock:
            self._open[version] = opened
            while len(self._open) > self.keep:
                self._open.popitem(last=False)
        return opened
