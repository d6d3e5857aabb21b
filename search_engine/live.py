"""Keep serving the current index version: follow its update log, swap in new versions.

Searches always get a complete engine: a new version is opened beside the serving one (in a
background thread) and swapped in with one reference assignment, so a switch costs no
request. A version built with a different product tower is refused and logged; the old one
keeps serving. A newly trained preference-model version is picked up the same way.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from indexer import versions
from indexer.search_index import SearchIndex
from search_engine.engine import Engine

log = logging.getLogger(__name__)


class LiveEngine:
    def __init__(self, engine: Engine, root: Path | None, check_interval_s: float = 1.0,
                 open_index: Callable[[Path], SearchIndex] = SearchIndex.open):
        self._engine = engine
        self.root = Path(root) if root else None
        self.check_interval_s = check_interval_s
        self.open_index = open_index
        self.last_error: str | None = None
        self._checked = time.monotonic()
        self._loading: threading.Thread | None = None
        self._swap_lock = threading.Lock()

    def get(self) -> Engine:
        if self.root is not None and time.monotonic() - self._checked >= self.check_interval_s:
            self._checked = time.monotonic()
            self._check()
        return self._engine

    def _check(self) -> None:
        try:
            serving = versions.current_version(self.root)
        except OSError as exc:  # a missing pointer must not take search down
            self.last_error = str(exc)
            return
        if serving != self._engine.index.version:
            if self._loading is None or not self._loading.is_alive():
                self._loading = threading.Thread(target=self._load, args=(serving,), daemon=True)
                self._loading.start()
        else:
            self._engine.index.sync()
            self._check_reranker()

    def _check_reranker(self) -> None:
        reranker = self._engine.reranker
        if reranker is None:
            return
        try:
            model = reranker.newer_model()
        except Exception as exc:  # a half-copied or bad model must not take search down
            self.last_error = f"not switching the preference model: {exc}"
            log.error(self.last_error)
            return
        if model is not None:
            reranker.model = model  # one reference assignment; a running rerank keeps its model
            log.info("now personalizing with preference model %s", model.version)

    def _load(self, version: str) -> Engine | None:
        try:
            index = self.open_index(versions.version_dir(self.root, version))
            engine = self._engine.on_index(index)
        except Exception as exc:  # keep serving the old version, and say why
            self.last_error = f"not switching to {version}: {exc}"
            log.error(self.last_error)
            return None
        with self._swap_lock:
            self._engine = engine
        self.last_error = None
        log.info("now serving index version %s", version)
        return engine

    def reload_now(self) -> Engine:
        """Switch to the version CURRENT names, synchronously (the admin reload)."""
        serving = versions.current_version(self.root)
        if serving == self._engine.index.version:
            self._engine.index.sync()
            return self._engine
        if self._load(serving) is None:
            raise RuntimeError(self.last_error)
        return self._engine
