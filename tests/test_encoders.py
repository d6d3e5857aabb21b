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
