"""Train the relevance ranker from a shop's judgments, and check it by cross-validation.

Lists. Each judged query is searched as shoppers are served, unpersonalized and without a
ranker; its top `ranker_depth` fused candidates, with their features, form one list.
Labels are the judgments' grades; an unjudged candidate counts as 0, as the metrics do.

Clicks. A shop's logged searches (what was shown, in order, and what the shopper clicked,
carted or bought: labels 1, 2, 3, as for the preference model) train it too. Each logged
query is replayed as above and the shown products' rows are taken from that list, so every
feature means what it means when serving; a shown product the replay does not find (pinned
by a rule then, or gone from the index) has no such row and is left out. Shoppers click what is on top more, whatever it
is: LightGBM's unbiased LambdaMART (Dataset(position=...)) learns a bias per shown position
with the ranker and divides it out, so the ranker learns relevance, not the old order.
Judged lists may train beside them: a judged list was shown to nobody, so all its rows share
one position (JUDGED_POSITION), one bias for the whole list, which leaves its order as judged.

Cross-validation uses the leak-free k folds of splits.py: a query and its near-duplicates
("laptop", "laptops") always land on the same side. Each fold trains on the others (their
judgments, the clicks of searches for them, or both) and is scored on its held-out queries'
judgments against the fused order the ranker would replace, and against plain keyword
search (BM25), per kind of query.

Kinds it ranks. A ranker that helps descriptive queries may hurt brand queries. The saved
ranker ranks only the kinds of query (code, brand, descriptive) on which its held-out
nDCG@10 was at least the fused order's; the others keep the fused order. The cross-
validation measures that choice honestly too: inside each fold the kinds are chosen by a
cross-validation of the fold's own training queries (nested), never by the held-out ones.

LightGBM LambdaMART for the reasons the preference model gives (personalization/training.py);
label_gain makes its gain the grade itself, as metrics.py's nDCG does.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

import numpy as np

from search_engine.metrics import judged_at_k, judged_ndcg_at_k, mean, ndcg_at_k
from search_engine.splits import k_fold, query_group_key
from search_engine.types import Event, Query
from search_engine.understanding.analysis import QUERY_KINDS, QueryAnalysis, analyze
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
JUDGED_POSITION = 0  # the position of a judged list's rows when logged searches train beside it (shown from 1)


@dataclass
class RankedList:
    query: str
    ids: list[str]  # candidate product ids in fused order
    rows: np.ndarray
    labels: np.ndarray
    kind: str  # "code", "brand" or "descriptive"
    positions: np.ndarray | None = None  # where each was shown (logged searches), for debiasing


class _Replay:
    """A query's served candidates (no ranker, no shopper, no rules) with the feature rows the
    ranking stage computes for them, once per query text."""

    def __init__(self, engine):
        self.plain = replace(engine, ranker=None, reranker=None, rules=None)
        self.vocabulary = engine.vocabulary.get()
        self.depth = engine.config.ranked_depth
        self.done: dict[str, tuple[list[str], np.ndarray, QueryAnalysis]] = {}

    def __call__(self, text: str) -> tuple[list[str], np.ndarray, QueryAnalysis]:
        if text not in self.done:
            result = self.plain.search(Query(text, k=self.depth))
            hits = [h for h in result.hits if h.candidate.ranked]
            searched = result.corrected_query or text  # what serving analyses: the words it searched
            analysis = analyze(searched, self.plain.query_vectors(searched), self.vocabulary)
            rows = feature_matrix(analysis, self.vocabulary, [h.candidate.doc for h in hits],
                                  [h.product for h in hits], [h.candidate for h in hits])
            self.done[text] = ([h.product.id for h in hits], rows, analysis)
        return self.done[text]


def ranked_lists(engine, judgments: Mapping[str, Mapping[str, float]], queries: Sequence[str]) -> list[RankedList]:
    """Each query's fused candidates as the engine serves them to an anonymous shopper, with features."""
    replay = _Replay(engine)
    lists = []
    for text in queries:
        ids, rows, analysis = replay(text)
        labels = np.array([int(round(judgments[text].get(i, 0))) for i in ids], dtype=np.int32)
        lists.append(RankedList(text, ids, rows, labels, analysis.kind))
    return lists


def click_lists(engine, events: Sequence[Event], shown_depth: int = 10) -> list[RankedList]:
    """Logged searches with an outcome as lists: the shown products' rows from a replay of the
    query, labels from what the shopper did, positions as shown."""
    from search_engine.personalization.training import logged_lists

    replay = _Replay(engine)
    lists = []
    for logged in logged_lists(events, shown_depth):
        text = logged.search.query
        if not text or not text.strip():
            continue
        ids, rows, analysis = replay(text)
        row_of = {product_id: i for i, product_id in enumerate(ids)}
        first = logged.search.position or 1
        shown = [(position, pid) for position, pid in enumerate(logged.shown, start=first) if pid in row_of]
        if not shown:
            continue
        lists.append(RankedList(
            text, [pid for _, pid in shown], rows[[row_of[pid] for _, pid in shown]],
            np.array([logged.labels.get(pid, 0) for _, pid in shown], dtype=np.int32), analysis.kind,
            np.array([position for position, _ in shown], dtype=np.int32)))
    return lists


class NothingLearned(ValueError):
    """Too little to learn a ranker from: serving one would only cost time."""


def train_booster(lists: Sequence[RankedList], rounds: int = ROUNDS, params: Mapping | None = None):
    """Judged lists, logged lists (with positions: position-debiased), or both (the judged
    ones at JUDGED_POSITION). NothingLearned when no tree could split: too few rows, or no
    grade differs within a list."""
    import lightgbm

    lists = [ranked for ranked in lists if len(ranked.ids)]
    if not lists:
        raise NothingLearned("nothing to train the ranker on: no judged query or logged search with an outcome")
    if any(r.positions is not None for r in lists):
        lists = [r if r.positions is not None else replace(r, positions=np.full(len(r.ids), JUDGED_POSITION, np.int32))
                 for r in lists]
    params = {**PARAMS, **(params or {})}
    rows = sum(len(r.ids) for r in lists)
    if rows < 2 * params["min_data_in_leaf"]:  # no split possible (LightGBM's bagging fails on fewer still)
        raise NothingLearned(f"too little to learn a ranker from: {rows} candidates of {len(lists)} queries, and a "
                             f"split needs {params['min_data_in_leaf']} on each side (min_data_in_leaf)")
    data = lightgbm.Dataset(np.vstack([r.rows for r in lists]), np.concatenate([r.labels for r in lists]),
                            group=[len(r.ids) for r in lists], feature_name=list(RANKER_FEATURES), free_raw_data=False,
                            position=None if lists[0].positions is None else np.concatenate([r.positions for r in lists]))
    booster = lightgbm.train(params, data, num_boost_round=rounds)
    if not booster.feature_importance(importance_type="split").any():
        raise NothingLearned(f"the ranker learned nothing from {len(lists)} queries ({rows} candidates): no tree "
                             "found a split, as when no grades differ among a query's candidates; judge more queries")
    return booster


def reordered(ranked: RankedList, scores: np.ndarray) -> list[str]:
    return [ranked.ids[i] for i in np.argsort(-scores, kind="stable")]


@dataclass
class FoldResult:
    fold: int
    held_out: list[str]
    fused: dict[str, float | None]  # held-out query -> nDCG@10 of the fused order
    ranked: dict[str, float | None]  # ... of the ranker's order, every kind ranked
    chosen: dict[str, float | None]  # ... ranking only the kinds chosen on the fold's training queries
    kinds: tuple[str, ...]  # those kinds
    orders: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)  # query -> (fused, ranked) ids


def _fold_scores(lists_by_fold: Sequence[Sequence[RankedList]], judgments, folds: int, rounds: int, params,
                 training: Sequence[RankedList] | None):
    """(fold, training queries, held-out queries, fused and ranked nDCG@10 per held-out query,
    the two orders per held-out query) per fold; fold i trains on and scores lists_by_fold[i - 1]."""
    queries = [r.query for r in lists_by_fold[0]]
    for fold, (train, held_out) in enumerate(k_fold(queries, folds), start=1):
        by_query = {r.query: r for r in lists_by_fold[fold - 1]}
        if training is None:
            fold_lists = [by_query[q] for q in train]
        else:
            held_groups = {query_group_key(q) for q in held_out}
            fold_lists = [r for r in training if query_group_key(r.query) not in held_groups]
        try:
            booster = train_booster(fold_lists, rounds, params)
        except NothingLearned:
            booster = None
        fused, ranked, orders = {}, {}, {}
        for query in held_out:
            item = by_query[query]
            fused_order = list(item.ids)
            order = fused_order if booster is None else reordered(  # None: nothing learned, the order stays
                item, booster.predict(item.rows, num_threads=1) if item.ids else np.zeros(0))
            fused[query] = ndcg_at_k(fused_order, judgments[query], 10)
            ranked[query] = ndcg_at_k(order, judgments[query], 10)
            orders[query] = (fused_order, order)
        yield fold, train, held_out, fused, ranked, orders


def kinds_worth_ranking(kinds: Mapping[str, str], fused: Mapping[str, float | None],
                        ranked: Mapping[str, float | None]) -> tuple[str, ...]:
    """The query kinds whose mean held-out nDCG@10 ranked is at least the fused order's; a
    kind with no judged query is not ranked (nothing says it helps)."""
    chosen = []
    for kind in QUERY_KINDS:
        queries = [q for q in fused if kinds[q] == kind]
        before, after = mean(fused[q] for q in queries), mean(ranked[q] for q in queries)
        if before is not None and after is not None and after >= before:
            chosen.append(kind)
    return tuple(chosen)


def cross_validate(lists: Sequence[RankedList], judgments, folds: int = 5, rounds: int = ROUNDS,
                   params: Mapping | None = None,
                   training: Sequence[RankedList] | None = None) -> list[FoldResult]:
    """lists: the judged queries' lists, scored held out; training: what each fold trains on
    (default: the judged lists themselves; or logged-search lists, kept to the fold's
    training query groups)."""
    return cross_validate_per_fold([lists] * folds, judgments, folds, rounds, params, training)


def cross_validate_per_fold(lists_by_fold: Sequence[Sequence[RankedList]], judgments, folds: int,
                            rounds: int = ROUNDS, params: Mapping | None = None,
                            training: Sequence[RankedList] | None = None) -> list[FoldResult]:
    """cross_validate where each fold has its own lists: those of an engine whose towers were
    fine-tuned on that fold's training queries alone (`search-train cv`, the same folds), so
    towers and ranker are measured together on queries neither saw."""
    if folds < 2:
        raise ValueError(f"k-fold needs k >= 2, got {folds}")
    if len(lists_by_fold) != folds:
        raise ValueError(f"{folds} folds need {folds} lists of lists, got {len(lists_by_fold)}")
    results = []
    for fold, train, held_out, fused, ranked, orders in _fold_scores(lists_by_fold, judgments, folds, rounds,
                                                                     params, training):
        # The kinds to rank, chosen by a cross-validation of this fold's training side alone:
        # its judged queries, and logged searches for none of the held-out query groups.
        fold_lists = lists_by_fold[fold - 1]
        kinds = {r.query: r.kind for r in fold_lists}
        held_groups = {query_group_key(q) for q in held_out}
        train_lists = [r for r in fold_lists if r.query in set(train)]
        inner_training = None if training is None else [
            r for r in training if query_group_key(r.query) not in held_groups]
        inner_folds = min(folds, len({query_group_key(q) for q in train}))
        inner_fused, inner_ranked = {}, {}
        if inner_folds >= 2:
            for _, _, _, f, r, _ in _fold_scores([train_lists] * inner_folds, judgments, inner_folds, rounds, params,
                                                 inner_training):
                inner_fused.update(f)
                inner_ranked.update(r)
        chosen_kinds = kinds_worth_ranking(kinds, inner_fused, inner_ranked)
        chosen = {q: ranked[q] if kinds[q] in chosen_kinds else fused[q] for q in held_out}
        results.append(FoldResult(fold, held_out, fused, ranked, chosen, chosen_kinds, orders))
    return results


def train_ranker(lists: Sequence[RankedList], meta: Mapping, rounds: int = ROUNDS,
                 params: Mapping | None = None, ranked_kinds: Sequence[str] = QUERY_KINDS) -> RelevanceModel:
    booster = train_booster(lists, rounds, params)
    return RelevanceModel(booster, {**meta, "learner": "LightGBM LambdaMART", "rounds": rounds,
                                    "params": {**PARAMS, **(params or {})}, "queries": len(lists),
                                    "ranked_kinds": list(ranked_kinds)})


def judged_summary(results: Sequence[FoldResult], judgments) -> dict[str, dict[str, float | None]]:
    """The held-out fused and ranked orders (every kind) read with the unjudged products left
    out (judged_ndcg@10) and by the judged share of their top 10 (judged@10, over the queries
    nDCG@10 scores): how much of the ranker's gain is ordering what was judged, and how much
    is bringing judged products up (a ranker learns from grades where unjudged counts 0)."""
    orders = {q: pair for r in results for q, pair in r.orders.items() if r.fused[q] is not None}
    return {metric: {"fused": mean(score(pair[0], judgments[q], 10) for q, pair in orders.items()),
                     "ranker": mean(score(pair[1], judgments[q], 10) for q, pair in orders.items())}
            for metric, score in (("judged_ndcg@10", judged_ndcg_at_k), ("judged@10", judged_at_k))}


def summary_by_kind(results: Sequence[FoldResult], lists: Sequence[RankedList],
                    keyword: Mapping[str, float | None]) -> dict[str, dict[str, float | int | None]]:
    """Held-out nDCG@10 per kind of query: plain keyword search, the fused order, the ranker on
    every query, the ranker on the kinds chosen inside each fold."""
    kinds = {r.query: r.kind for r in lists}
    fused = {q: v for r in results for q, v in r.fused.items()}
    ranked = {q: v for r in results for q, v in r.ranked.items()}
    chosen = {q: v for r in results for q, v in r.chosen.items()}
    table = {}
    for kind in (*QUERY_KINDS, "all"):
        queries = [q for q in fused if kind == "all" or kinds[q] == kind]
        table[kind] = {"queries": len(queries), "keyword": mean(keyword.get(q) for q in queries),
                       "fused": mean(fused[q] for q in queries), "ranker": mean(ranked[q] for q in queries),
                       "ranker_chosen_kinds": mean(chosen[q] for q in queries)}
    return table
