"""Fine-tuning the towers: leak-free splits, a tiny real training, a loadable result."""
import numpy as np
import pytest

from search_engine.splits import group_queries, k_fold, query_group_key


def test_near_duplicate_queries_share_a_group():
    assert query_group_key("Bluetooth Speakers") == query_group_key("bluetooth speaker")
    assert query_group_key("smart watch") == query_group_key("smartwatch")
    assert query_group_key("laptops") == query_group_key("laptop")
    assert query_group_key("head set") == query_group_key("headset")
    assert query_group_key("glass") != query_group_key("glas")  # -ss is not a plural
    assert group_queries(["laptop", "laptops", "mouse"]) == {"laptop": ["laptop", "laptops"], "mouse": ["mouse"]}


def test_k_fold_never_leaks_a_query_or_its_twin(judgments):
    queries = list(judgments)
    held_out_all = []
    for train, held_out in k_fold(queries, 3):
        assert not set(train) & set(held_out)
        assert set(train) | set(held_out) == set(queries)
        assert not {query_group_key(q) for q in train} & {query_group_key(q) for q in held_out}
        held_out_all += held_out
    assert sorted(held_out_all) == sorted(queries)  # every query is held out exactly once
    with pytest.raises(ValueError, match="k >= 2"):
        next(k_fold(queries, 1))


def test_batches_hold_each_query_and_positive_once():
    import random

    from encoders.training import TrainingPair, batches

    pairs = [TrainingPair(f"q{i % 3}", f"p{i}") for i in range(12)] + [TrainingPair("q9", "p0")]
    for batch in batches(pairs, 4, random.Random(1)):
        assert len({p.query for p in batch}) == len(batch) == len({p.positive for p in batch})
        assert len(batch) > 1


@pytest.mark.slow
def test_tiny_training_lowers_the_loss_and_saves_a_loadable_tower(tmp_path, engine, judgments):
    from encoders.towers import TextEncoder
    from encoders.training import TrainingConfig, fine_tune, save_tower
    from search_engine.training_data import judged_pairs, mine_hard_negatives

    queries = ["wireless mouse", "hdmi cable", "backpack", "usb hub"]
    negatives = mine_hard_negatives(engine, judgments, queries, per_query=3)
    for query in queries:  # a mined negative is never a product judged relevant at all
        assert not {pid for pid in negatives[query] if judgments[query].get(pid, 0) >= 1}
    pairs = judged_pairs(judgments, queries, engine.index.products, negatives)[:48]
    assert any(p.negative for p in pairs)  # queries judged relevant all the way down have none
    tower = TextEncoder(device="cpu")
    with_negative = [p for p in pairs if p.negative]

    def margin():  # what the loss asks for: a query nearer its positive than its hard negative
        q, pos, neg = (tower.encode([getattr(p, f) for p in with_negative]) for f in ("query", "positive", "negative"))
        return float(np.mean(np.sum(q * pos, axis=1) - np.sum(q * neg, axis=1)))

    before = margin()
    report = fine_tune(tower.model, pairs, TrainingConfig(epochs=3, batch_size=4, learning_rate=5e-5))
    tower._fingerprint = None
    assert len(report.losses) == 3 and margin() > before

    save_tower(tower.model, tmp_path / "tower", {"base_model": "all-MiniLM-L6-v2", "loss": "MNRL"})
    assert (tmp_path / "tower" / "README.md").read_text().count("MNRL") == 1
    reloaded = TextEncoder(str(tmp_path / "tower"), device="cpu")
    texts = ["wireless mouse", pairs[0].positive]
    tower._fingerprint = None
    assert reloaded.fingerprint == tower.fingerprint
    np.testing.assert_allclose(reloaded.encode(texts), tower.encode(texts), atol=1e-5)
    assert reloaded.fingerprint != TextEncoder(device="cpu").fingerprint  # training changed the weights


@pytest.mark.slow
def test_synthetic_queries_avoid_held_out_queries_and_their_twins(slice_products):
    from search_engine.training_data import synthetic_pairs, synthetic_queries

    product = next(p for p in slice_products if p.category and p.brand and p.attributes.get("model"))
    generated = synthetic_queries(product)
    assert product.category.lower() in generated and f"{product.brand} {product.category}".lower() in generated
    held_out = [product.category + "s"]  # a plural twin of the category query
    pairs = synthetic_pairs([product], 1, exclude_queries=held_out)
    assert all(query_group_key(p.query) != query_group_key(held_out[0]) for p in pairs)


@pytest.mark.slow
def test_asymmetric_towers_train_apart_and_load_as_two_towers(tmp_path, engine, judgments):
    from encoders.towers import TextEncoder, Towers
    from encoders.training import TrainingConfig, asymmetric, fine_tune, save_tower
    from search_engine.training_data import judged_pairs

    queries = ["wireless mouse", "hdmi cable", "backpack", "usb hub"]
    pairs = [p for q in queries for p in judged_pairs(judgments, [q], engine.index.products, {})[:8]]
    base = TextEncoder(device="cpu")
    model = asymmetric(base.model)
    texts = ["wireless mouse", pairs[0].positive]
    # Both routes start as copies of the shared model.
    np.testing.assert_allclose(model.encode_query(texts, normalize_embeddings=True), base.encode(texts), atol=1e-5)
    report = fine_tune(model, pairs, TrainingConfig(epochs=2, batch_size=4, learning_rate=5e-5))
    assert report.steps > 0 and report.losses[-1] < report.losses[0]
    with pytest.raises(ValueError, match="two different queries"):
        fine_tune(model, pairs[:1], TrainingConfig())
    save_tower(model, tmp_path / "towers", {"asymmetric": True, "loss": "MNRL"})
    assert "encode_query" in (tmp_path / "towers" / "README.md").read_text()

    towers = Towers.load(str(tmp_path / "towers"), device="cpu")
    assert towers.query is not towers.product and towers.query.asymmetric
    assert towers.query.fingerprint != towers.product.fingerprint  # each route trained on its own side
    np.testing.assert_allclose(towers.query.encode(texts), model.encode_query(texts), atol=1e-5)
    np.testing.assert_allclose(towers.product.encode(texts), model.encode_document(texts), atol=1e-5)
    # The reindex script's product tower is the document route.
    assert TextEncoder(str(tmp_path / "towers"), device="cpu").fingerprint == towers.product.fingerprint
    # The ONNX backend runs one route like any plain model.
    onnx_query = TextEncoder(str(tmp_path / "towers"), device="cpu", backend="onnx", task="query",
                             cache_dir=tmp_path / "cache")
    assert onnx_query.backend == "onnx"
    np.testing.assert_allclose(onnx_query.encode(texts), towers.query.encode(texts), atol=1e-4)
