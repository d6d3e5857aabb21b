"""The learned relevance ranker: deterministic training, leak-free cross-validation, the
stage in a search (order, explain, the preference model's input), versions on disk, and
selection per configuration."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from search_engine.evaluation import Configuration, configured_engine
from search_engine.personalization.features import feature_matrix as preference_features
from search_engine.splits import query_group_key
from search_engine.types import Candidate, Query
from search_engine.understanding.features import RANKER_FEATURES
from search_engine.understanding.ranker import RelevanceModel, load_ranker
from search_engine.metrics import ndcg_at_k
from search_engine.understanding.ranker_training import cross_validate, cross_validate_per_fold, ranked_lists, \
    train_ranker

QUERIES = ("wireless mouse", "hdmi cable", "backpack", "aa battery", "usb hub", "chromebook",
           "brother tn-2110 toner")


@pytest.fixture(scope="module")
def slice_judgments(judgments):
    chosen = {q: judgments[q] for q in QUERIES}
    chosen["usb hubs"] = judgments["usb hub"]  # a near-duplicate: must never straddle a split
    return chosen


@pytest.fixture(scope="module")
def lists(engine, slice_judgments):
    return ranked_lists(engine, slice_judgments, list(slice_judgments))


@pytest.fixture(scope="module")
def ranker(lists):
    return train_ranker(lists, {"test": True}, rounds=30)


def test_training_rows_are_what_serving_scores(engine, lists, ranker, slice_judgments):
    """No train/serve skew: the ranker scores each served candidate exactly as it scored that
    candidate's training row."""
    mouse = next(r for r in lists if r.query == "wireless mouse")
    assert mouse.labels.tolist() == [int(slice_judgments["wireless mouse"].get(i, 0)) for i in mouse.ids]
    trained = dict(zip(mouse.ids, ranker.score(mouse.rows)))
    served = replace(engine, ranker=ranker).search(Query("wireless mouse", k=100)).hits
    assert {h.product.id for h in served} == set(mouse.ids)
    for hit in served:
        assert hit.candidate.relevance_score == pytest.approx(trained[hit.product.id], abs=1e-9)
    assert next(r for r in lists if r.query == "brother tn-2110 toner").kind == "code"


def test_training_is_deterministic(lists):
    first = train_ranker(lists, {}, rounds=30).booster.model_to_string()
    assert train_ranker(lists, {}, rounds=30).booster.model_to_string() == first


def test_too_little_to_learn_from_is_said_and_leaves_a_folds_order_alone(lists, slice_judgments):
    """A catalog of a handful of products, or judgments whose grades never differ within a
    query, teach no split: training says so instead of crashing in LightGBM or saving a
    constant ranker, and a fold with nothing to learn keeps the fused order."""
    from search_engine.understanding.ranker_training import NothingLearned

    tiny = [replace(r, ids=r.ids[:1], rows=r.rows[:1], labels=r.labels[:1]) for r in lists]
    with pytest.raises(NothingLearned, match="too little to learn a ranker from: 8 candidates of 8 queries"):
        train_ranker(tiny, {})
    flat = [replace(r, labels=np.zeros_like(r.labels)) for r in lists]
    with pytest.raises(NothingLearned, match="learned nothing from 8 queries"):
        train_ranker(flat, {}, rounds=5)
    for fold in cross_validate(tiny, slice_judgments, folds=2, rounds=5):
        assert fold.ranked == fold.fused


def test_cross_validation_keeps_query_groups_on_one_side(lists, slice_judgments):
    folds = cross_validate(lists, slice_judgments, folds=3, rounds=10)
    held = [set(f.held_out) for f in folds]
    for fold in folds:  # a held-out query is scored ranked where its kind was chosen, else fused
        for query in fold.held_out:
            kind = next(r.kind for r in lists if r.query == query)
            assert fold.chosen[query] == (fold.ranked if kind in fold.kinds else fold.fused)[query]
    assert set().union(*held) == set(slice_judgments)
    for i, fold in enumerate(held):
        others = set().union(*(h for j, h in enumerate(held) if j != i))
        assert not {query_group_key(q) for q in fold} & {query_group_key(q) for q in others}
    assert any({"usb hub", "usb hubs"} <= h for h in held)


def test_the_held_out_orders_are_the_ones_scored_and_read_judged_only(lists, slice_judgments):
    """Each fold keeps the fused and ranked order of every held-out query, the orders its
    nDCG@10 figures come from; judged_summary reads them without the unjudged products."""
    from search_engine.metrics import judged_at_k, judged_ndcg_at_k
    from search_engine.understanding.ranker_training import judged_summary

    folds = cross_validate(lists, slice_judgments, folds=3, rounds=10)
    orders = {}
    for fold in folds:
        assert set(fold.orders) == set(fold.held_out)
        for query, (fused, ranked) in fold.orders.items():
            ids = next(r.ids for r in lists if r.query == query)
            assert fused == list(ids) and sorted(ranked) == sorted(ids)
            assert (fold.fused[query], fold.ranked[query]) == (ndcg_at_k(fused, slice_judgments[query], 10),
                                                               ndcg_at_k(ranked, slice_judgments[query], 10))
            orders[query] = (fused, ranked)
    assert any(fused != ranked for fused, ranked in orders.values())  # the ranker reordered something
    summary = judged_summary(folds, slice_judgments)
    scored = [q for q in orders if ndcg_at_k(orders[q][0], slice_judgments[q], 10) is not None]
    assert summary["judged@10"]["ranker"] == pytest.approx(
        np.mean([judged_at_k(orders[q][1], slice_judgments[q], 10) for q in scored]))
    assert summary["judged_ndcg@10"]["fused"] == pytest.approx(
        np.mean([judged_ndcg_at_k(orders[q][0], slice_judgments[q], 10) for q in scored]))


def test_each_fold_trains_and_scores_the_lists_of_its_own_towers(lists, slice_judgments):
    """Towers fine-tuned per fold (search-train cv) give each fold its own candidates: fold i is
    trained and scored on fold i's lists, the other folds are untouched."""
    reversed_lists = [replace(r, ids=r.ids[::-1], rows=r.rows[::-1], labels=r.labels[::-1]) for r in lists]
    shared = cross_validate(lists, slice_judgments, folds=3, rounds=10)
    per_fold = cross_validate_per_fold([lists, reversed_lists, lists], slice_judgments, 3, rounds=10)
    assert [f for f in per_fold if f.fold != 2] == [f for f in shared if f.fold != 2]
    second = per_fold[1]
    for query in second.held_out:
        ids = next(r.ids for r in reversed_lists if r.query == query)
        assert second.fused[query] == ndcg_at_k(ids, slice_judgments[query], 10)
    assert second.fused != shared[1].fused  # the reversal changed what fold 2 scored
    with pytest.raises(ValueError, match="3 folds need 3"):
        cross_validate_per_fold([lists, lists], slice_judgments, 3)


def test_measuring_towers_and_ranker_together_needs_the_folds_the_towers_were_made_with(tmp_path, capsys):
    from scripts.train_towers import main
    for fold in (1, 2, 3):
        (tmp_path / f"fold{fold}-tower").mkdir()
    assert main(["ranker", "--work", str(tmp_path), "--folds", "5"]) == 2
    assert "holds towers for folds [1, 2, 3]" in capsys.readouterr().err
    for fold in (1, 2, 3):  # towers trained on a split these judgments do not make
        (tmp_path / f"fold{fold}-tower" / "training.json").write_text('{"queries": ["laptop"]}')
    assert main(["ranker", "--work", str(tmp_path), "--folds", "3"]) == 2
    assert "fold 1's towers were trained on other queries" in capsys.readouterr().err


def test_the_ranker_orders_candidates_and_explains_its_score(engine, ranker):
    ranked = replace(engine, ranker=ranker)
    result = ranked.search(Query("wireless mouse", k=20, explain=True))
    scores = [h.candidate.relevance_score for h in result.hits]
    assert scores == sorted(scores, reverse=True) and [h.score for h in result.hits] == scores
    assert [h.candidate.relevance_rank for h in result.hits] == list(range(1, 21))
    for hit in result.hits[:5]:  # SHAP contributions plus the bias add up to the score
        assert sum(hit.candidate.relevance_contributions.values()) == pytest.approx(hit.score, abs=1e-3)
    assert result.ranked_by == ranker.version and "relevance" in result.timings_ms
    fused = {h.product.id for h in engine.search(Query("wireless mouse", k=100)).hits}
    assert {h.product.id for h in ranked.search(Query("wireless mouse", k=100)).hits} == fused


def test_a_ranker_ranks_only_the_kinds_of_query_it_was_chosen_for(engine, ranker):
    codes_only = replace(engine, ranker=RelevanceModel(ranker.booster, {**ranker.meta, "ranked_kinds": ["code"]},
                                                       "codes-only"))
    descriptive = codes_only.search(Query("wireless mouse", explain=True))
    assert descriptive.ranked_by is None and descriptive.understood["kind"] == "descriptive"
    assert [h.product.id for h in descriptive.hits] == [h.product.id for h in engine.search(Query("wireless mouse")).hits]
    assert codes_only.search(Query("brother tn-2110 toner")).ranked_by == "codes-only"


def test_kinds_are_chosen_where_held_out_ranking_did_not_lose():
    from search_engine.understanding.ranker_training import kinds_worth_ranking

    kinds = {"a": "code", "b": "brand", "c": "descriptive", "d": "descriptive"}
    fused = {"a": 0.5, "b": 0.9, "c": 0.4, "d": 0.6}
    ranked = {"a": 0.7, "b": 0.6, "c": 0.5, "d": 0.5}  # descriptive: 0.5 == 0.5, kept
    assert kinds_worth_ranking(kinds, fused, ranked) == ("code", "descriptive")
    assert kinds_worth_ranking({"a": "code"}, {"a": None}, {"a": None}) == ()


def test_the_preference_model_reranks_the_rankers_order():
    from indexer.schema import Product
    from search_engine.personalization.features import CatalogPriors
    from search_engine.personalization.product_stats import ProductStats
    from search_engine.personalization.profiles import CatalogReader, PriceBands, UserProfile

    candidate = Candidate(doc=0, fused_score=0.9, fused_rank=1, relevance_score=-1.5, relevance_rank=7)
    row = preference_features("mouse", [Product("p", "a mouse")], [candidate], UserProfile(),
                              ProductStats(), PriceBands({}, (1.0, 2.0, 3.0, 4.0)), CatalogPriors({}, {}, {}),
                              CatalogReader(lambda product_id: None))[0]
    assert row[0] == pytest.approx(-1.5) and row[1] == 7


def test_saved_versions_load_and_a_feature_mismatch_is_refused(ranker, tmp_path):
    folder = replace(ranker).save(tmp_path / "rankers")
    loaded = load_ranker(tmp_path / "rankers")
    assert loaded.version == folder.name
    rows = np.random.default_rng(0).normal(size=(5, len(RANKER_FEATURES))).astype(np.float32)
    assert np.allclose(loaded.score(rows), ranker.score(rows))
    with pytest.raises(ValueError, match="retrain"):
        RelevanceModel(ranker.booster, {"features": ["fused_score"]})
    with pytest.raises(FileNotFoundError, match="search-train ranker"):
        load_ranker(tmp_path / "nothing-here")


def test_configurations_turn_the_ranker_on_and_off(engine, ranker):
    assert Configuration.parse("hybrid-linear:0.3+ranker").ranker
    with pytest.raises(ValueError, match="only addition"):
        Configuration.parse("hybrid-linear:0.3+magic")
    with pytest.raises(ValueError, match="^ranker:"):
        configured_engine(engine, Configuration.parse("hybrid-rrf+ranker"))
    with pytest.raises(ValueError, match="^ranker: .*hybrid"):
        Configuration.parse("keyword+ranker")
    serving = replace(engine, ranker=ranker)
    assert configured_engine(serving, Configuration.parse("hybrid-rrf")).ranker is None
    assert configured_engine(serving, Configuration.parse("hybrid-linear:0.4+ranker")).ranker is ranker
    keyword = serving.search(Query("wireless mouse", mode="keyword"))  # not what it was trained on
    assert keyword.ranked_by is None and all(h.candidate.relevance_score is None for h in keyword.hits)


def test_search_api_explains_the_rankers_score(engine, ranker, slice_index_root, tmp_path):
    from api import create_app
    from search_engine.settings import Settings

    settings = Settings(index_root=str(slice_index_root), events_path=str(tmp_path / "events.sqlite3"),
                        merchandising_path=str(tmp_path / "merchandising.sqlite3"))
    client = create_app({"SETTINGS": settings, "ENGINE": replace(engine, ranker=ranker), "TESTING": True}).test_client()
    body = client.get("/search", query_string={"q": "brother toner", "explain": "true"}).get_json()
    assert body["ranked_by"] == ranker.version and body["explain"]["understood"]["brands"] == ["Brother"]
    first = body["results"][0]["explain"]["relevance"]
    assert first["rank"] == 1 and set(first["contributions"]) == {*RANKER_FEATURES, "bias"}
    assert body["results"][0]["score"] == pytest.approx(first["score"], abs=1e-5)


def test_workbench_refuses_a_ranker_the_server_has_not_loaded(client):
    bearer = {"Authorization": "Bearer test-token"}
    response = client.post("/workbench/api/compare", headers=bearer, json={
        "q": "mouse", "a": {"mode": "hybrid", "ranker": True}, "b": {"mode": "keyword"}})
    assert response.status_code == 400 and response.get_json()["error"]["parameter"] == "a.ranker"
    response = client.post("/workbench/api/compare", headers=bearer,
                           json={"q": "mouse", "a": {"ranker": "yes"}, "b": {}})
    assert response.status_code == 400 and response.get_json()["error"]["parameter"] == "a.ranker"


def test_logged_searches_become_position_debiased_lists_with_serving_features(engine, lists):
    from search_engine.types import Event
    from search_engine.understanding.ranker_training import click_lists

    served = next(r for r in lists if r.query == "wireless mouse")
    shown = tuple(served.ids[:3])
    events = [Event("u1", "s1", 100.0, "search", query="wireless mouse", position=1, search_id="q1", shown=shown),
              Event("u1", "s1", 101.0, "click", product_id=shown[1], query="wireless mouse", position=2,
                    search_id="q1"),
              Event("u1", "s1", 102.0, "purchase", product_id=shown[2]),  # from the product page: by session
              Event("u2", "s2", 200.0, "search", query="usb hub", position=1, search_id="q2", shown=shown)]
    logged = click_lists(engine, events)
    assert len(logged) == 1  # the search nobody acted on carries no preference
    (mouse,) = logged
    assert mouse.ids == list(shown) and mouse.labels.tolist() == [0, 1, 3] and mouse.positions.tolist() == [1, 2, 3]
    assert np.array_equal(mouse.rows, served.rows[:3], equal_nan=True)  # the rows serving computes


def test_judged_and_logged_lists_train_together_the_judged_at_one_position(engine, lists, monkeypatch):
    """A judged list was shown to nobody: all its rows share JUDGED_POSITION, so position
    debiasing scales the whole list alike and leaves its order as judged; logged rows keep
    the positions they were shown at."""
    import lightgbm

    from search_engine.understanding.ranker_training import JUDGED_POSITION, RankedList, train_booster

    served = next(r for r in lists if r.query == "wireless mouse")
    logged = RankedList(served.query, served.ids[:3], served.rows[:3], np.array([0, 1, 3], dtype=np.int32),
                        served.kind, np.array([1, 2, 3], dtype=np.int32))
    given = []
    real = lightgbm.Dataset

    def recording(*args, **kwargs):
        given.append(kwargs.get("position"))
        return real(*args, **kwargs)

    monkeypatch.setattr(lightgbm, "Dataset", recording)
    train_booster([logged, *lists], rounds=2)
    assert given[-1].tolist() == [1, 2, 3] + [JUDGED_POSITION] * sum(len(r.ids) for r in lists)
    train_booster(lists, rounds=2)
    assert given[-1] is None  # judgments alone: nothing to debias
    assert JUDGED_POSITION not in logged.positions  # shown positions start at 1


def test_training_on_judgments_and_clicks_needs_clicks(capsys):
    from scripts.train_towers import main

    assert main(["ranker", "--with-judgments", "--cv-only"]) == 2
    assert "--with-judgments" in capsys.readouterr().err


def test_clicks_for_held_out_queries_never_train_a_fold_nor_choose_its_kinds(engine, lists, slice_judgments,
                                                                             monkeypatch):
    from search_engine.types import Event
    from search_engine.understanding import ranker_training

    events = []
    for i, ranked in enumerate(lists):  # one clicked search for every judged query
        shown = tuple(ranked.ids[:3])
        events += [Event(f"u{i}", f"s{i}", 10.0 * i, "search", query=ranked.query, position=1, search_id=f"q{i}",
                         shown=shown),
                   Event(f"u{i}", f"s{i}", 10.0 * i + 1, "click", product_id=shown[1], search_id=f"q{i}")]
    clicks = ranker_training.click_lists(engine, events)
    assert {r.query for r in clicks} == set(slice_judgments) and all(r.positions is not None for r in clicks)
    trained_on = []
    real = ranker_training.train_booster

    def recording(fold_lists, *args, **kwargs):
        trained_on.append({query_group_key(r.query) for r in fold_lists})
        return real(fold_lists, *args, **kwargs)

    monkeypatch.setattr(ranker_training, "train_booster", recording)
    folds = ranker_training.cross_validate(lists, slice_judgments, folds=2, rounds=5, training=clicks)
    per_fold = len(trained_on) // len(folds)  # each fold: its own booster, then its inner folds' boosters
    assert per_fold == 3
    for i, fold in enumerate(folds):
        held = {query_group_key(q) for q in fold.held_out}
        for groups in trained_on[i * per_fold:(i + 1) * per_fold]:
            assert groups and not groups & held


def test_a_model_of_other_features_is_refused_naming_the_difference():
    """A ranker saved before the per-field BM25 features were added says what it lacks."""
    from search_engine.model_folders import check_features
    from search_engine.understanding.features import RANKER_FEATURES

    older = {"features": [f for f in RANKER_FEATURES if not f.endswith("_bm25")]}
    with pytest.raises(ValueError, match=r"ranker 1 was trained on 18 features, this engine computes 24: it lacks "
                                         r"title_bm25, model_bm25, .*attributes_bm25; retrain it"):
        check_features(older, RANKER_FEATURES, "ranker 1")
    with pytest.raises(ValueError, match="no longer computes gone"):
        check_features({"features": [*RANKER_FEATURES, "gone"]}, RANKER_FEATURES, "ranker 1")
    check_features({"features": list(RANKER_FEATURES)}, RANKER_FEATURES, "ranker 1")  # the same: no error
