import math

import pytest

from search_engine.metrics import dcg, mean, ndcg_at_k, recall_at_k, reciprocal_rank


def test_dcg_uses_the_grade_as_gain():
    assert dcg([3, 2, 0]) == pytest.approx(3 / math.log2(2) + 2 / math.log2(3))


def test_ndcg_by_hand_with_unjudged_products_as_zero():
    grades = {"a": 3, "b": 2, "c": 1, "d": 0}
    ranked = ["x", "b", "a"]  # x is unjudged
    expected = (0 + 2 / math.log2(3) + 3 / math.log2(4)) / (3 + 2 / math.log2(3) + 1 / math.log2(4))
    assert ndcg_at_k(ranked, grades, k=3) == pytest.approx(expected)


def test_ndcg_ideal_order_is_one_and_cutoff_applies():
    grades = {"a": 3, "b": 2, "c": 1}
    assert ndcg_at_k(["a", "b", "c"], grades, 3) == pytest.approx(1.0)
    assert ndcg_at_k(["c", "b", "a"], grades, 1) == pytest.approx(1 / 3)


def test_ndcg_undefined_without_any_positive_grade():
    assert ndcg_at_k(["a"], {"a": 0, "b": 0}) is None


def test_recall_counts_grades_two_and_above():
    grades = {"a": 3, "b": 2, "c": 1, "d": 2}
    assert recall_at_k(["a", "c", "x", "d"], grades, k=100) == pytest.approx(2 / 3)
    assert recall_at_k(["x", "a"], grades, k=1) == 0.0
    assert recall_at_k(["a"], {"a": 1}) is None


def test_reciprocal_rank_of_first_relevant():
    grades = {"a": 1, "b": 2}
    assert reciprocal_rank(["a", "x", "b"], grades) == pytest.approx(1 / 3)
    assert reciprocal_rank(["a", "x"], grades) == 0.0
    assert reciprocal_rank(["a"], {"a": 1}) is None


def test_mean_skips_undefined_values():
    assert mean([1.0, None, 0.0]) == 0.5
    assert mean([None]) is None
