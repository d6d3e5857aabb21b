import pytest

from search_engine.fusion import linear_fusion, min_max, reciprocal_rank_fusion


def test_rrf_sums_reciprocal_ranks_by_hand():
    dense = [(1, 0.9), (2, 0.8), (3, 0.7)]
    keyword = [(3, 12.0), (4, 9.0)]
    fused = dict(reciprocal_rank_fusion([dense, keyword], rrf_k=60))
    assert fused[1] == pytest.approx(1 / 61)
    assert fused[2] == pytest.approx(1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[4] == pytest.approx(1 / 62)
    order = [doc for doc, _ in reciprocal_rank_fusion([dense, keyword], rrf_k=60)]
    assert order == [3, 1, 2, 4]  # 2 and 4 tie at 1/62: the lower doc number comes first


def test_rrf_ignores_raw_score_scale():
    a = reciprocal_rank_fusion([[(1, 1000.0), (2, 1.0)]])
    b = reciprocal_rank_fusion([[(1, 0.51), (2, 0.50)]])
    assert a == b


def test_min_max_maps_to_unit_interval_and_handles_equal_scores():
    assert min_max([(1, 4.0), (2, 2.0), (3, 3.0)]) == {1: 1.0, 2: 0.0, 3: 0.5}
    assert min_max([(1, 2.0), (2, 2.0)]) == {1: 1.0, 2: 1.0}
    assert min_max([]) == {}


def test_linear_fusion_by_hand():
    dense = [(1, 0.9), (2, 0.5), (3, 0.1)]   # normalised: 1.0, 0.5, 0.0
    keyword = [(2, 10.0), (4, 5.0)]          # normalised: 1.0, 0.0
    fused = dict(linear_fusion(dense, keyword, dense_weight=0.4))
    assert fused[1] == pytest.approx(0.4 * 1.0)
    assert fused[2] == pytest.approx(0.4 * 0.5 + 0.6 * 1.0)
    assert fused[3] == pytest.approx(0.0)
    assert fused[4] == pytest.approx(0.0)
    assert [d for d, _ in linear_fusion(dense, keyword, 0.4)][:2] == [2, 1]


def test_linear_fusion_weight_extremes_reproduce_each_leg():
    dense = [(1, 0.9), (2, 0.5)]
    keyword = [(2, 10.0), (1, 5.0)]
    assert [d for d, _ in linear_fusion(dense, keyword, 1.0)] == [1, 2]
    assert [d for d, _ in linear_fusion(dense, keyword, 0.0)] == [2, 1]


def test_linear_fusion_rejects_weight_outside_unit_interval():
    with pytest.raises(ValueError, match="dense_weight"):
        linear_fusion([], [], 1.5)


def test_fuzzy_hits_go_below_every_exact_hit_by_hand():
    from indexer.keyword.base import append_fuzzy_hits

    exact = [(1, 8.0), (2, 4.0)]
    fuzzy = [(2, 1.0), (3, 1.0), (4, 0.5)]  # doc 2 is already an exact hit
    assert append_fuzzy_hits(exact, fuzzy, k=10) == [(1, 8.0), (2, 4.0), (3, 2.0), (4, 1.0)]
    assert append_fuzzy_hits(exact, fuzzy, k=3) == [(1, 8.0), (2, 4.0), (3, 2.0)]
    assert append_fuzzy_hits([], [(5, 1.0)], k=2) == [(5, 0.5)]


def test_fusion_weight_fitting_by_hand():
    from search_engine.fusion_tuning import Leg, fit_weight, fit_weights_by_kind

    doc_ids = ["a", "b", "c", "d"]
    every = frozenset(range(4))  # every product in the matched set: the fused order is the page
    # Query 1: dense has the relevant doc first; query 2 ("tn 2110"): keyword does.
    legs = {"soft chair": (Leg([(0, 0.9), (1, 0.1)], every), Leg([(1, 9.0), (0, 1.0)], every)),
            "tn 2110": (Leg([(3, 0.9), (2, 0.1)], every), Leg([(2, 9.0), (3, 1.0)], every))}
    judgments = {"soft chair": {"a": 3}, "tn 2110": {"c": 3}}
    kinds = {"soft chair": "descriptive", "tn 2110": "code"}
    by_kind = fit_weights_by_kind(legs, judgments, doc_ids, kinds, weights=(0.0, 0.25, 0.75, 1.0))
    assert by_kind["descriptive"] > 0.5 > by_kind["code"]
    # One global weight cannot serve both: every weight scores 1.0 + 0.63 / 2; ties go nearest 0.5.
    assert fit_weight(legs, judgments, doc_ids, weights=(0.0, 0.25, 0.75, 1.0)) in (0.25, 0.75)
