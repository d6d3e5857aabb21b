"""The relevance metrics, by hand on one ranking with unjudged products in it."""
import math

import pytest

from search_engine.metrics import judged_at_k, judged_ndcg_at_k, ndcg_at_k, scores

GRADES = {"a": 3, "b": 2, "c": 0}  # c judged not relevant; x and y never judged
RANKED = ["x", "a", "y", "b"]


def test_ndcg_counts_unjudged_products_as_not_relevant():
    dcg = 3 / math.log2(3) + 2 / math.log2(5)
    ideal = 3 + 2 / math.log2(3)
    assert ndcg_at_k(RANKED, GRADES) == pytest.approx(dcg / ideal)  # 0.6462


def test_judged_ndcg_reads_only_how_the_judged_products_were_ordered():
    assert judged_ndcg_at_k(RANKED, GRADES) == pytest.approx(1.0)  # a, b: the ideal order
    assert judged_ndcg_at_k(["b", "x", "a"], GRADES) == pytest.approx((2 + 3 / math.log2(3)) / (3 + 2 / math.log2(3)))
    assert judged_ndcg_at_k(["x", "y"], {"a": 0}) is None  # nothing relevant to find: no figure


def test_judged_at_k_is_the_judged_share_of_the_top():
    assert judged_at_k(RANKED, GRADES) == 0.5
    assert judged_at_k(RANKED, GRADES, k=2) == 0.5 and judged_at_k(RANKED, GRADES, k=1) == 0.0
    assert judged_at_k(["c"], GRADES) == 1.0  # judged not relevant is still judged
    assert judged_at_k([], GRADES) is None


def test_scores_names_every_metric():
    found = scores(RANKED, GRADES)
    assert set(found) == {"ndcg@10", "recall@100", "mrr", "judged_ndcg@10", "judged@10"}
    assert (found["recall@100"], found["mrr"], found["judged@10"]) == (1.0, 0.5, 0.5)


def test_the_pool_to_judge_lists_each_unjudged_product_of_every_top_10_once():
    from search_engine.evaluation import Configuration, ConfigurationScores, unjudged_pool

    keyword = ConfigurationScores(Configuration.parse("keyword"), top={"mouse": tuple(RANKED), "hub": ("a",)})
    hybrid = ConfigurationScores(Configuration.parse("hybrid-linear:0.4"),
                                 top={"mouse": ("y", "z", "a") + tuple(f"n{i}" for i in range(7))})
    pool = unjudged_pool([keyword, hybrid], {"mouse": GRADES, "hub": {"a": 1}})
    assert pool == {"mouse": {"x": ["keyword"], "y": ["keyword", "hybrid-linear:0.4"], "z": ["hybrid-linear:0.4"],
                              **{f"n{i}": ["hybrid-linear:0.4"] for i in range(7)}}}
