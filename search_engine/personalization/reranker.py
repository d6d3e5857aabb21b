"""Rerank a known shopper's top candidates with the preference model.

Cold start is a guarantee, not a heuristic: a shopper with no usable events gets the
candidates back untouched, in exactly the unpersonalized order.
"""
from __future__ import annotations

import time
from typing import Callable, Collection, Sequence

import numpy as np

from indexer.schema import Product
from search_engine.personalization.features import FEATURES, feature_matrix, order_prior, tastes_of
from search_engine.personalization.model import PreferenceModel
from search_engine.personalization.profiles import CatalogReader, FirstPages, UserProfile, build_profile
from search_engine.types import Candidate, Event, Query


DEFAULT_EVIDENCE = 1.0  # simulated shoppers: 0, 1 and 2 measured alike (docs/personalization.md)


def confidence(profile: UserProfile, evidence: float) -> float:
    """How far to trust the model's correction for this shopper, 0 .. 1: their decayed event
    mass (a purchase 5, a cart 3, a click 1, a view 0.5) over that mass plus `evidence`."""
    return profile.total / (profile.total + evidence) if profile.total > 0 else 0.0


class PreferenceReranker:
    def __init__(self, model: PreferenceModel, events_of: Callable[[str], Sequence[Event]],
                 depth: int = 100, half_life_days: float = 30.0, model_root: str | None = None,
                 evidence: float = DEFAULT_EVIDENCE):
        """events_of(user_id): that shopper's recent events, e.g. EventStore.for_user.
        model_root: a folder of model versions to follow (see newer_model); None pins the model.
        evidence: the history mass (see confidence) at which the model's correction counts half."""
        if not evidence >= 0:
            raise ValueError(f"personalization_evidence must be a number >= 0, got {evidence!r}")
        self.model = model
        self.events_of = events_of
        self.depth = depth
        self.evidence = evidence
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

    def profile(self, user_id: str, catalog: CatalogReader, now: float | None = None,
                model: PreferenceModel | None = None, page: Query | None = None) -> UserProfile:
        """model: the one the caller will rerank with (default: the current one); page: the
        search it is for, whose later pages read the profile as of their first (FirstPages)."""
        events = self.events_of(user_id)
        now = time.time() if now is None else now
        if page is not None and page.offset > 0:  # only a later page reads an earlier time
            now = FirstPages.of(events, now).profile_time(now, page.text, page.offset + 1, page.visit)
        return build_profile(events, catalog, (model or self.model).bands, now=now,
                             half_life_days=self.half_life_days)

    def rerank(self, query: str, profile: UserProfile, candidates: list[Candidate],
               product_at: Callable[[int], Product], catalog: CatalogReader, explain: bool = False,
               model: PreferenceModel | None = None) -> list[Candidate]:
        """The top `depth` candidates in the model's order, then the rest as they were.
        model: default the current one; a newer one swapped in meanwhile (one reference
        assignment, search_engine/live.py) does not change a call under way."""
        if profile.empty or not candidates:
            return candidates
        model = model or self.model
        head, tail = candidates[: self.depth], candidates[self.depth:]
        products = [product_at(c.doc) for c in head]
        trust = confidence(profile, self.evidence)
        rows, prior, scores = _scored(query, profile, head, products, catalog, model, trust)
        # Explained as parts that add up to the score: the unpersonalized order's, then each
        # feature's share of the model's correction (TreeSHAP) at this shopper's confidence.
        contributions = trust * model.contributions(rows) if explain else None
        for i, candidate in enumerate(head):
            candidate.personal_score = float(scores[i])
            if contributions is not None:
                candidate.contributions = {"unpersonalized_order": round(float(prior[i]), 6)}
                candidate.contributions.update(
                    (name, round(float(v), 6)) for name, v in zip((*FEATURES, "bias"), contributions[i]))
                candidate.personal_confidence = round(trust, 4)
                candidate.tastes = tastes_of(profile, products[i], model.priors, catalog)
        # Stable sort: equal scores keep the unpersonalized order.
        order = sorted(range(len(head)), key=lambda i: -scores[i])
        return [head[i] for i in order] + tail

    def taste_free_scores(self, query: str, candidates: Sequence[Candidate], products: Sequence[Product],
                          catalog: CatalogReader, trust: float) -> np.ndarray:
        """The scores the model gives these candidates without reading the shopper (an empty
        profile's features) at `trust`: what it would do for anyone, the part of its gain no
        taste explains."""
        return _scored(query, UserProfile(), candidates, products, catalog, self.model, trust)[2]


def _scored(query: str, profile: UserProfile, candidates: Sequence[Candidate], products: Sequence[Product],
            catalog: CatalogReader, model: PreferenceModel, trust: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(feature rows, the unpersonalized order's score, that plus the model's correction at `trust`)."""
    rows = feature_matrix(query, products, candidates, profile, model.stats, model.bands, model.priors, catalog)
    # The unpersonalized rank, as training read it (a candidate's place before matching).
    prior = order_prior(np.array([c.base_rank or i for i, c in enumerate(candidates, start=1)]), model.prior_scale)
    return rows, prior, prior + trust * model.score(rows)
