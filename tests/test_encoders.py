from dataclasses import replace

import numpy as np
import pytest

from encoders.model_resolution import packaged_minilm_path, resolve_model
from encoders.product_text import product_text
from indexer.schema import Product


def test_default_and_hub_names_resolve_to_the_packaged_model():
    path = packaged_minilm_path()
    assert (path / "modules.json").exists()
    assert resolve_model(None) == resolve_model("all-MiniLM-L6-v2") == \
        resolve_model("sentence-transformers/all-MiniLM-L6-v2") == str(path)
    assert resolve_model("/models/my-tower") == "/models/my-tower"  # any other path or name is passed on


@pytest.mark.slow
def test_a_local_model_path_loads_and_embeds_like_the_default(towers):
    from encoders.towers import TextEncoder

    by_path = TextEncoder(str(packaged_minilm_path()))
    assert by_path.fingerprint == towers.query.fingerprint
    texts = ["wireless mouse", "toner cartridge"]
    np.testing.assert_allclose(by_path.encode(texts), towers.query.encode(texts), atol=1e-5)
    vectors = by_path.encode(texts)
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert by_path.encode([]).shape == (0, 384)


def test_product_text_keeps_what_shoppers_match_and_drops_logistics():
    product = Product("1", "Logitech M185 wireless mouse", "Compact cordless mouse with nano receiver",
                      "Logitech", "mouse", 19.9,
                      {"product_colour": "Grey", "package_weight": "120 g", "country_of_origin": "China"})
    text = product_text(product)
    assert text.startswith("Logitech M185 wireless mouse")
    assert "Compact cordless mouse" in text
    assert "Grey" not in text  # attributes only when asked for
    assert "Brand" not in text  # the title already says it
    with_attributes = product_text(product, max_attributes=8)
    assert "product colour: Grey" in with_attributes
    assert "China" not in with_attributes and "120 g" not in with_attributes
    listed = replace(product, attributes={"connectivity": ["Bluetooth", "USB", 2, " "], "ports": [3]})
    assert "connectivity: Bluetooth, USB" in product_text(listed, max_attributes=8)  # a list's texts
    assert "ports" not in product_text(listed, max_attributes=8)  # no text in it


def test_product_text_adds_brand_and_category_missing_from_the_title():
    text = product_text(Product("2", "M185", "", "Logitech", "mouse"))
    assert "Brand: Logitech" in text and "Category: mouse" in text


@pytest.mark.slow
def test_onnx_backend_embeds_like_torch(towers):
    from encoders.towers import TextEncoder

    onnx = TextEncoder(backend="onnx")
    assert onnx.backend == "onnx" and onnx.fingerprint == towers.query.fingerprint
    texts = ["wireless mouse", "Brother TN-2110 toner cartridge Original Black 1 pc(s)", "aa", ""]
    np.testing.assert_allclose(onnx.encode(texts), towers.query.encode(texts), atol=1e-4)
    assert onnx.encode([]).shape == (0, 384)
    assert onnx._onnx.path.name == "model-fused.onnx"  # MiniLM's attention and norms fused, checked
    assert onnx._onnx.path.parent.name.startswith("onnxruntime-")


@pytest.mark.slow
def test_batches_spread_over_parallel_sessions_keep_order_and_vectors(towers, slice_products):
    from encoders.product_text import product_text
    from encoders.towers import TextEncoder

    onnx = TextEncoder(backend="onnx")
    texts = [product_text(p) for p in slice_products[:70]] + ["usb", "a much longer query about a usb-c hub"]
    vectors = onnx.encode(texts)
    assert onnx._onnx.tower._sessions().qsize() == min(onnx._onnx.tower.threads, onnx._onnx.tower.MAX_WORKERS)
    np.testing.assert_allclose(vectors, towers.product.encode(texts), atol=1e-4)


@pytest.mark.slow
def test_a_graph_the_optimizer_cannot_fuse_is_served_unfused(towers, tmp_path, monkeypatch):
    from encoders import onnx_backend
    from encoders.onnx_backend import OnnxTransformer

    def broken(source, target, config):
        target.write_bytes(b"half a graph")
        raise RuntimeError("optimizer failed")

    monkeypatch.setattr(onnx_backend, "fuse", broken)
    runner = OnnxTransformer(towers.query.model, tmp_path, towers.query.fingerprint)
    assert runner.path.name == "model-eager.onnx"
    texts = ["wireless mouse", "hdmi cable"]
    np.testing.assert_allclose(runner.encode(texts), towers.query.encode(texts), atol=1e-4)
    graphs = sorted(p.name for p in (tmp_path / "onnx" / towers.query.fingerprint).rglob("*.onnx"))
    assert graphs == ["model-eager.onnx"]  # the half-written candidate is gone, nothing else has a name

    def wrong(source, target, config):  # a fusion that loads but computes something else
        import shutil
        shutil.copy(source, target)
        return True

    monkeypatch.setattr(onnx_backend, "fuse", wrong)
    monkeypatch.setattr(OnnxTransformer, "_agreement", lambda self, model, graph: 0.5)
    runner = OnnxTransformer(towers.query.model, tmp_path, towers.query.fingerprint)
    assert runner.path.name == "model-eager.onnx"
    assert list((tmp_path / "onnx" / towers.query.fingerprint).rglob("model-fused.rejected"))
    assert not list((tmp_path / "onnx" / towers.query.fingerprint).rglob("model-fused.onnx"))


def test_onnx_export_refuses_pipelines_it_cannot_reproduce():
    from sentence_transformers import SentenceTransformer, models

    from encoders.onnx_backend import UnsupportedForOnnx, _pipeline

    transformer = models.Transformer(str(packaged_minilm_path()))
    cls_pooling = models.Pooling(transformer.get_embedding_dimension(), pooling_mode="cls")
    with pytest.raises(UnsupportedForOnnx, match="mean pooling only"):
        _pipeline(SentenceTransformer(modules=[transformer, cls_pooling], device="cpu"))


def test_unknown_encoder_backend_is_named():
    from encoders.towers import TextEncoder

    with pytest.raises(ValueError, match="unknown encoder backend 'tensorrt'"):
        TextEncoder(backend="tensorrt", device="cpu")


@pytest.mark.slow
def test_int8_backend_stays_close_to_the_float_tower_and_is_cached_apart(towers, tmp_path):
    from encoders.embedding_cache import encode_cached
    from encoders.towers import TextEncoder

    int8 = TextEncoder(backend="onnx-int8", device="cpu")
    assert int8.backend == "onnx-int8" and int8.fingerprint == towers.query.fingerprint
    texts = ["wireless mouse", "Brother TN-2110 toner cartridge Original Black 1 pc(s)", "hdmi cable 2m"]
    vectors, reference = int8.encode(texts), towers.query.encode(texts)
    cosines = (vectors * reference).sum(axis=1)
    assert cosines.min() > 0.98 and not np.allclose(vectors, reference, atol=1e-4)  # close, not identical
    # The embedding cache never hands float vectors to the int8 tower, or the reverse.
    assert int8.vectors_key != towers.query.vectors_key
    np.testing.assert_allclose(encode_cached(towers.query, texts, tmp_path), reference)
    np.testing.assert_allclose(encode_cached(int8, texts, tmp_path), vectors)


def test_token_length_batches_group_similar_lengths_and_restore_order(towers):
    from encoders.batching import in_original_order, token_counts, token_length_batches

    tokenizer = towers.query.model.tokenizer
    texts = ["usb", "a very long product title with many many words in it for padding", "hdmi cable 2 m",
             "mouse", "wireless keyboard and mouse combo"]
    counts = token_counts(tokenizer, texts, 256)
    assert counts.tolist() == [len(tokenizer(t)["input_ids"]) for t in texts]
    assert token_counts(tokenizer, ["word " * 400], 256).tolist() == [256]  # truncated like the encoders
    order, batches = token_length_batches(tokenizer, texts, 256, 2)
    assert counts[order].tolist() == sorted(counts, reverse=True) and [len(b) for b in batches] == [2, 2, 1]
    chunks = [np.array([[float(i)] for i in batch]) for batch in batches]
    assert in_original_order(order, chunks)[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


@pytest.mark.slow
def test_torch_batches_by_token_count_give_sentence_transformers_vectors(towers, slice_products):
    from encoders.product_text import product_text

    texts = [product_text(p) for p in slice_products[:40]]
    expected = towers.product.model.encode(texts, batch_size=64, normalize_embeddings=True)
    np.testing.assert_allclose(towers.product.encode(texts), expected, atol=1e-5)
