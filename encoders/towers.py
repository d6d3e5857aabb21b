"""The query tower and the product tower: sentence-transformers models to unit vectors."""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from encoders.model_resolution import default_cache_dir, resolve_model
from encoders.product_text import ProductLike, product_text

log = logging.getLogger(__name__)

class TextEncoder:
    """One tower. Vectors are L2-normalised float32, so inner product is cosine similarity."""

    def __init__(self, model: str | None = None, device: str | None = None,
                 batch_size: int = 64, cache_dir: Path | None = None, backend: str = "torch"):
        """backend: "torch", or "onnx" (ONNX Runtime on the CPU, falling back to torch when
        onnxruntime is missing or the model's pipeline cannot be exported)."""
        if backend not in ("torch", "onnx"):
            raise ValueError(f"unknown encoder backend {backend!r}; expected torch or onnx")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub we do not have
        from sentence_transformers import SentenceTransformer

        self.name = model or "all-MiniLM-L6-v2"
        self.path = resolve_model(model, cache_dir)
        if device is None:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.batch_size = batch_size
        self.model = SentenceTransformer(self.path, device=device)
        self._fingerprint: str | None = None
        self.backend = "torch"
        self._onnx = None
        if backend == "onnx" and device == "cpu":
            self._onnx = _onnx_or_none(self.model, cache_dir or default_cache_dir(), self.fingerprint)
            self.backend = "onnx" if self._onnx else "torch"

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    @property
    def fingerprint(self) -> str:
        """A hash of the weights: two towers with the same fingerprint embed identically."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            for key, tensor in sorted(self.model.state_dict().items()):
                digest.update(key.encode())
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint

    def encode(self, texts: Sequence[str], show_progress: bool = False,
               batch_size: int | None = None) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._onnx is not None:
            return self._onnx.encode(list(texts), batch_size or self.batch_size, show_progress)
        # sentence-transformers sorts each call's texts by length before batching.
        vectors = self.model.encode(
            list(texts), batch_size=batch_size or self.batch_size, show_progress_bar=show_progress,
            convert_to_numpy=True, normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _onnx_or_none(model, cache_dir: Path, fingerprint: str):
    try:
        from encoders.onnx_backend import OnnxTransformer, UnsupportedForOnnx
    except ImportError:
        log.warning("onnxruntime is not installed; the tower runs on torch")
        return None
    try:
        return OnnxTransformer(model, cache_dir, fingerprint)
    except (ImportError, UnsupportedForOnnx) as exc:
        log.warning("the tower runs on torch: %s", exc)
        return None


@dataclass
class Towers:
    """Query and product towers; by default one shared model serves as both."""

    query: TextEncoder
    product: TextEncoder

    @classmethod
    def load(cls, query_model: str | None = None, product_model: str | None = None,
             device: str | None = None, backend: str = "torch") -> "Towers":
        query = TextEncoder(query_model, device=device, backend=backend)
        if product_model is None or product_model == query_model:
            return cls(query=query, product=query)
        return cls(query=query, product=TextEncoder(product_model, device=device, backend=backend))

    def encode_query(self, text: str) -> np.ndarray:
        return self.query.encode([text])[0]

    def encode_products(self, products: Sequence[ProductLike], show_progress: bool = False) -> np.ndarray:
        return self.product.encode([product_text(p) for p in products], show_progress=show_progress)
