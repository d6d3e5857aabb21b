"""The query tower and the product tower: sentence-transformers models to unit vectors."""
from __future__ import annotations

import hashlib
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from encoders.batching import in_original_order, token_length_batches
from encoders.model_resolution import DEFAULT_MODEL, default_cache_dir, resolve_model
from encoders.product_text import ProductLike, product_text

log = logging.getLogger(__name__)

class TextEncoder:
    """One tower. Vectors are L2-normalised float32, so inner product is cosine similarity."""

    def __init__(self, model: str | None = None, device: str | None = None,
                 batch_size: int | None = None, cache_dir: Path | None = None, backend: str = "torch",
                 task: str = "document"):
        """backend: "torch"; "onnx" (ONNX Runtime on the CPU, falling back to torch when
        onnxruntime is missing or the model's pipeline cannot be exported); or "onnx-int8"
        (the same, dynamically quantized to int8).
        task: "query" or "document"; it picks the route of an asymmetric model (one whose first
        module is a sentence-transformers Router) and means nothing to a shared-weights model."""
        if backend not in BACKENDS:
            raise ValueError(f"unknown encoder backend {backend!r}; expected one of {', '.join(BACKENDS)}")
        if task not in TASKS:
            raise ValueError(f"unknown tower task {task!r}; expected query or document")
        self.name = model or "all-MiniLM-L6-v2"
        self.source = self.name  # what to load it from again (name stays the display name)
        self.path = resolve_model(model, cache_dir)
        from sentence_transformers import SentenceTransformer

        if device is None:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        # Small batches of similar token counts are fastest on a CPU (docs/benchmarks.md); a GPU
        # wants big ones.
        self.batch_size = batch_size or (128 if str(device).startswith("cuda") else 16)
        full_model = SentenceTransformer(self.path, device=device)
        self.asymmetric = is_asymmetric(full_model)
        self.task = task
        self.model = route_view(full_model, task) if self.asymmetric else full_model
        if self.asymmetric:
            self.name = f"{self.name} [{task} tower]"
        self._fingerprint: str | None = None
        self.backend = "torch"
        self._onnx = None
        if backend.startswith("onnx") and device == "cpu":
            self._onnx = _onnx_or_none(self.model, cache_dir or default_cache_dir(), self.fingerprint,
                                       quantize=backend == "onnx-int8")
            self.backend = backend if self._onnx else "torch"

    @property
    def vectors_key(self) -> str:
        """What decides this tower's vectors: the weights, and int8 when quantized."""
        # Which int8 graph (fused or not, by which ONNX Runtime) changes the vectors a little.
        if self.backend == "onnx-int8":
            return f"{self.fingerprint}-{self._onnx.path.parent.name}-{self._onnx.path.stem}"
        return self.fingerprint

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    @property
    def fingerprint(self) -> str:
        """A hash of the weights: two towers with the same fingerprint embed identically."""
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self.model)
        return self._fingerprint

    def export(self, root: Path) -> Path | None:
        """This tower's ONNX graph and tokenizer under root, for serving without torch
        (encoders/exported_tower.py); None when it runs on torch (nothing to export)."""
        if self._onnx is None:
            return None
        from encoders.exported_tower import ExportInfo, weights_digest, write_export

        onnx = self._onnx
        info = ExportInfo(name=self.name, source=self.source, task=self.task if self.asymmetric else None,
                          backend=self.backend, fingerprint=self.fingerprint, vectors_key=self.vectors_key,
                          dimension=self.dimension, max_length=onnx.max_length, normalize=onnx.normalize,
                          pad_id=onnx.padding.pad_id, pad_token=onnx.padding.pad_token,
                          weights_digest=weights_digest(self.source), pad_type_id=onnx.padding.pad_type_id,
                          padding_side=onnx.padding.padding_side, truncation_side=onnx.padding.truncation_side)
        return write_export(Path(root), info, onnx.path, onnx.tokenizer_json)

    def encode(self, texts: Sequence[str], show_progress: bool = False,
               batch_size: int | None = None) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._onnx is not None:
            return self._onnx.encode(list(texts), batch_size or self.batch_size, show_progress)
        from tqdm import tqdm
        from transformers import PreTrainedTokenizerBase

        size = batch_size or self.batch_size
        texts = list(texts)
        if len(texts) <= size or not isinstance(getattr(self.model, "tokenizer", None), PreTrainedTokenizerBase):
            # One batch, or a model without a transformers tokenizer (a static embedding, say).
            vectors = self.model.encode(texts, batch_size=size, show_progress_bar=show_progress,
                                        convert_to_numpy=True, normalize_embeddings=True)
            return np.ascontiguousarray(vectors, dtype=np.float32)
        order, batches = token_length_batches(self.model.tokenizer, texts, self.model.max_seq_length, size)
        chunks = [self.model.encode([texts[i] for i in batch], batch_size=size, convert_to_numpy=True,
                                    normalize_embeddings=True)
                  for batch in tqdm(batches, disable=not show_progress, desc="Batches")]
        return np.ascontiguousarray(in_original_order(order, chunks), dtype=np.float32)


TASKS = ("query", "document")
BACKENDS = ("torch", "onnx", "onnx-int8")
ONNX_BACKENDS = ("onnx", "onnx-int8")


def load_tower(model: str | None = None, backend: str = "torch", task: str = "document", device: str | None = None,
               exports: Sequence[Path] = ()):
    """A tower on the CPU from an export under one of `exports` when there is one (no torch
    needed: ExportedTower), else loaded with sentence-transformers (TextEncoder)."""
    if backend in ONNX_BACKENDS and (device == "cpu" or (device is None and not _cuda_available())):
        from encoders.exported_tower import ExportedTower, find_export

        folder = find_export(exports, model or DEFAULT_MODEL, backend, task)
        if folder is not None:
            return ExportedTower(folder)
    if not (_installed("torch") and _installed("sentence_transformers")):
        raise MissingTrainingInstall(
            f"no exported {backend} tower for {model or DEFAULT_MODEL!r} under "
            f"{', '.join(map(str, exports)) or '(no folder given)'}, and torch and sentence-transformers are not "
            "installed to load one: build the index where they are (pip install '.[train]'), or install them here")
    return TextEncoder(model, device=device, backend=backend, task=task)


class MissingTrainingInstall(RuntimeError):
    """A tower has to be loaded with torch, and this install has none."""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def _cuda_available() -> bool:
    """Whether torch sees a GPU (device None means: use it if there is one)."""
    try:
        import torch
    except ImportError:  # a serving install
        return False
    return torch.cuda.is_available()


def weights_fingerprint(model) -> str:
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def is_asymmetric(model) -> bool:
    return type(model[0]).__name__ == "Router"


def route_view(model, task: str):
    """The plain Transformer -> Pooling -> Normalize model one route of a Router model runs.

    Serving one tower needs only its route, and a plain pipeline exports to ONNX and
    fingerprints exactly the weights that shape that tower's vectors.
    """
    from sentence_transformers import SentenceTransformer

    router = model[0]
    modules = [*router.sub_modules[router._resolve_route(task=task)], *list(model)[1:]]
    return SentenceTransformer(modules=modules, device=str(model.device))


def _onnx_or_none(model, cache_dir: Path, fingerprint: str, quantize: bool = False):
    try:
        from encoders.onnx_backend import OnnxTransformer, UnsupportedForOnnx
    except ImportError:
        log.warning("onnxruntime is not installed; the tower runs on torch")
        return None
    try:
        return OnnxTransformer(model, cache_dir, fingerprint, quantize=quantize)
    except (ImportError, UnsupportedForOnnx) as exc:
        log.warning("the tower runs on torch: %s", exc)
        return None


def encoder_source(encoder: dict) -> str:
    """Where an index manifest's encoder entry says its tower loads from."""
    return encoder.get("source") or encoder["model"].split(" [")[0]  # older manifests: the display name


@dataclass
class Towers:
    """Query and product towers; by default one shared model serves as both.

    A model saved with a Router (search-train --asymmetric) holds both towers in one folder:
    its query route becomes the query tower and its document route the product tower.
    """

    query: TextEncoder
    product: TextEncoder

    @classmethod
    def load(cls, query_model: str | None = None, product_model: str | None = None,
             device: str | None = None, backend: str = "torch", exports: Sequence[Path] = ()) -> "Towers":
        """exports: folders of exported towers (an index root's towers/) tried first (load_tower)."""
        query = load_tower(query_model, backend, "query", device, exports)
        if product_model is None or product_model == query_model:
            if not query.asymmetric:
                return cls(query=query, product=query)
            product_model = query_model
        return cls(query=query, product=load_tower(product_model, backend, "document", device, exports))

    @classmethod
    def for_index(cls, encoder: dict, device: str | None = None, exports: Sequence[Path] = ()) -> "Towers":
        """The towers an index version was built with, from its manifest's encoder entry."""
        return cls.load(encoder_source(encoder), device=device, backend=encoder.get("backend", "torch"),
                        exports=exports)

    def export(self, root: Path) -> None:
        """Both towers' exports under root (encoders/exported_tower.py), where they run on ONNX."""
        for tower in {id(self.query): self.query, id(self.product): self.product}.values():
            tower.export(root)

    def encode_query(self, text: str) -> np.ndarray:
        return self.query.encode([text])[0]

    def encode_products(self, products: Sequence[ProductLike], show_progress: bool = False) -> np.ndarray:
        return self.product.encode([product_text(p) for p in products], show_progress=show_progress)
