"""Rerank a known shopper's top candidates with the preference model.

Cold start is a guarantee, not a heuristic: a shopper with no usable events gets the
candidates back untouched, in exactly the unpersonalized order.
"""
from __future__ import annotations

import time
from typing import Callable, Collection, Sequence

from indexer.schema import Product
from search_engine.personalization.features import FEATURES, feature_matrix
from search_engine.personalization.model import PreferenceModel
from search_engine.personalization.profiles import UserProfile, build_profile
from search_engine.types import Candidate, Event


class PreferenceReranker:
    def __init__(self, model: PreferenceModel, events_of: Callable[[str], Sequence[Event]],
                 depth: int = 100, half_life_days: float = 30.0, model_root: str | None = None):
        """events_of(user_id): that shopper's recent events, e.g. EventStore.for_user.
        model_root: a folder of model versions to follow (see newer_model); None pins the model."""
        self.model = model
        self.events_of = events_of
        self.depth = depth
        self.half_life_days = half_life_days
        self.model_root = model_root

    def newer_model(self, skip: Collection[str] = ()) -> PreferenceModel | None:
        """The newest version under model_root when it is not the one loaded (nor in `skip`,
        versions that failed to load before), else None. Raises what loading it raised."""
        from search_engine.personalization.model import load_model

        newest = self.newest_version()
        if newest is None or newest.name == self.model.version or newest.name in skip:
            return None
        return load_model(newest)

    def newest_version(self):
        """The newest model version folder under model_root, or None."""
        from search_engine.model_folders import model_versions

        found = model_versions(self.model_root) if self.model_root else []
        return found[-1] if found else None

    def profile(self, user_id: str, product_of: Callable[[str], Product | None], now: float | None = None,
                model: PreferenceModel | None = None) -> UserProfile:
        """model: the one the caller will rerank with (default: the current one)."""
        return build_profile(self.events_of(user_id), product_of, (model or self.model).bands,
                             now=time.time() if now is None else now, half_life_days=self.half_life_days)

    def rerank(self, query: str, profile: UserProfile, candidates: list[Candidate],
               product_at: Callable[[int], Product], explain: bool = False,
               model: PreferenceModel | None = None) -> list[Candidate]:
        """The top `depth` candidates in the model's order, then the rest as they were.
        model: default the current one; a newer one swapped in meanwhile (one reference
        assignment, search_engine/live.py) does not change a call under way."""
        if profile.empty or not candidates:
            return candidates
        model = model or self.model
        head, tail = candidates[: self.depth], candidates[self.depth:]
        rows = feature_matrix(query, [product_at(c.doc) for c in head], head, profile,
                              model.stats, model.bands, model.priors)
        scores = model.score(rows)
        contributions = model.contributions(rows) if explain else None
        for i, candidate in enumerate(head):
            candidate.personal_score = float(scores[i])
            if contributions is not None:
                candidate.contributions = {name: round(float(v), 6) for name, v in zip(FEATURES, contributions[i])}
                candidate.contributions["bias"] = round(float(contributions[i][-1]), 6)
        # Stable sort: equal scores keep the unpersonalized order.
        order = sorted(range(len(head)), key=lambda i: -scores[i])
        return [head[i] for i in order] + tail
