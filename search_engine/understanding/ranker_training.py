"""Train the relevance ranker from a shop's judgments, and check it by cross-validation.

Lists. Each judged query is searched as shoppers are served, unpersonalized and without a
ranker; its top `ranker_depth` fused candidates, with their features, form one list.
Labels are the judgments' grades; an unjudged candidate counts as 0, as the metrics do.

Cross-validation uses the leak-free k folds of splits.py: a query and its near-duplicates
("laptop", "laptops") always land on the same side. Each fold trains on the others and is
scored on its held-out queries against the fused order the ranker would replace, and
against plain keyword search (BM25), per kind of query.

LightGBM LambdaMART for the reasons the preference model gives (personalization/training.py);
label_gain makes its gain the grade itself, as metrics.py's nDCG does.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np

from search_engine.metrics import mean, ndcg_at_k
from search_engine.splits import k_fold
from search_engine.types import Query
from search_engine.understanding.analysis import QueryAnalysis, analyze
from search_engine.understanding.features import RANKER_FEATURES, feature_matrix
from search_engine.understanding.ranker import RelevanceModel

PARAMS = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "eval_at": [10],
    "label_gain": [0, 1, 2, 3],
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "num_threads": 2,
    "seed": 13,
    # The same judgments train the same model (LightGBM otherwise picks histogram layouts by a timing test).
    "deterministic": True,
    "force_col_wise": True,
    "verbose": -1,
}
ROUNDS = 200


@dataclass
class RankedList:
    query: str
    ids: list[str]  # candidate product ids in fused order
    rows: np.ndarray
    labels: np.ndarray
    kind: str  # "code", "brand" or "descriptive"


def query_kind(analysis: QueryAnalysis) -> str:
    """Codes first (a brand with a code is a code query), then brands, then the rest."""
    return "code" if analysis.codes else "brand" if analysis.brands else "descriptive"


def ranked_lists(engine, judgments: Mapping[str, Mapping[str, float]], queries: Sequence[str]) -> list[RankedList]:
    """Each query's fused candidates as the engine serves them to an anonymous shopper, with features."""
    plain = replace(engine, ranker=None, reranker=None, rules=None)
    vocabulary = engine.vocabulary.get()
    lists = []
    for text in queries:
        hits = plain.search(Query(text, k=engine.config.ranker_depth)).hits
        analysis = analyze(text, engine.query_vectors(text), vocabulary)
        rows = feature_matrix(analysis, vocabulary, [h.candidate.doc for h in hits], [h.product for h in hits],
                              [h.candidate for h in hits])
        ids = [h.product.id for h in hits]
        labels = np.array([int(round(judgments[text].get(i, 0))) for i in ids], dtype=np.int32)
        lists.append(RankedList(text, ids, rows, labels, query_kind(analysis)))
    return lists


def train_booster(lists: Sequence[RankedList], rounds: int = ROUNDS, params: Mapping | None = None):
    import lightgbm

    lists = [ranked for ranked in lists if len(ranked.ids)]
    data = lightgbm.Dataset(np.vstack([r.rows for r in lists]), np.concatenate([r.labels for r in lists]),
                            group=[len(r.ids) for r in lists], feature_name=list(RANKER_FEATURES), free_raw_data=False)
    return lightgbm.train({**PARAMS, **(params or {})}, data, num_boost_round=rounds)


def reordered(ranked: RankedList, scores: np.ndarray) -> list[str]:
    return [ranked.ids[i] for i in np.argsort(-scores, kind="stable")]


@dataclass
class FoldResult:
    fold: int
    held_out: list[str]
    fused: dict[str, float | None]  # held-out query -> nDCG@10 of the fused order
    ranked: dict[str, float | None]  # ... of the ranker's order


def cross_validate(lists: Sequence[RankedList], judgments, folds: int = 5, rounds: int = ROUNDS,
                   params: Mapping | None = None) -> list[FoldResult]:
    by_query = {r.query: r for r in lists}
    results = []
    for fold, (train, held_out) in enumerate(k_fold(list(by_query), folds), start=1):
        booster = train_booster([by_query[q] for q in train], rounds, params)
        fused, ranked = {}, {}
        for query in held_out:
            item = by_query[query]
            fused[query] = ndcg_at_k(item.ids, judgments[query], 10)
            scores = booster.predict(item.rows, num_threads=1) if item.ids else np.zeros(0)
            ranked[query] = ndcg_at_k(reordered(item, scores), judgments[query], 10)
        results.append(FoldResult(fold, held_out, fused, ranked))
    return results


def train_ranker(lists: Sequence[RankedList], meta: Mapping, rounds: int = ROUNDS,
                 params: Mapping | None = None) -> RelevanceModel:
    booster = train_booster(lists, rounds, params)
    return RelevanceModel(booster, {**meta, "learner": "LightGBM LambdaMART", "rounds": rounds,
                                    "params": {**PARAMS, **(params or {})}, "queries": len(lists)})


def summary_by_kind(results: Sequence[FoldResult], lists: Sequence[RankedList],
                    keyword: Mapping[str, float | None]) -> dict[str, dict[str, float | int | None]]:
    """Held-out nDCG@10 per kind of query: plain keyword search, the fused order, the ranker."""
    kinds = {r.query: r.kind for r in lists}
    fused = {q: v for r in results for q, v in r.fused.items()}
    ranked = {q: v for r in results for q, v in r.ranked.items()}
    table = {}
    for kind in ("code", "brand", "descriptive", "all"):
        queries = [q for q in fused if kind == "all" or kinds[q] == kind]
        table[kind] = {"queries": len(queries), "keyword": mean(keyword.get(q) for q in queries),
                       "fused": mean(fused[q] for q in queries), "ranker": mean(ranked[q] for q in queries)}
    return table
