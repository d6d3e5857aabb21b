"""Run a tower's transformer with ONNX Runtime instead of torch.

For one short query on 2 CPU cores, ONNX Runtime answers in about 2 ms where torch eager
takes 5-10 ms, with the same vectors (cosine 1.0000 on the Icecat queries): the query
transformer is most of a search's time, so this is the serving default when onnxruntime is
installed. The export is made from the loaded torch weights (no hub needed) once per weight
fingerprint and cached beside the unpacked model. Only the standard sentence-transformers
pipeline (Transformer -> mean Pooling -> optional Normalize) is exported; anything else
stays on torch.

The export uses the model's eager attention, whose graph ONNX Runtime's transformer optimizer
recognises: for BERT-style models (MiniLM among them) attention, embedding, layer norm and
GELU are fused into single kernels, checked against torch before use (else the plain graph
serves). The graph then runs on encoders/onnx_runtime.py's OnnxTower, as it does from an
exported folder without torch.

quantize=True serves a dynamically int8-quantized copy (onnxruntime.quantization: weights
stored as int8, activations quantized on the fly): about 4x smaller and faster on CPUs with
int8 instructions, at a small cost in vector precision (measured in docs/benchmarks.md).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from encoders.atomic_files import atomic_path, write_atomically
from encoders.onnx_runtime import OnnxTower, TokenizerPadding, serving_tokenizer

log = logging.getLogger(__name__)


class UnsupportedForOnnx(ValueError):
    pass


def _pipeline(model) -> tuple:
    """(transformer module, normalize?) when the model is Transformer -> mean Pooling [-> Normalize]."""
    modules = list(model)
    names = [type(m).__name__ for m in modules]
    if names[:2] != ["Transformer", "Pooling"] or any(n != "Normalize" for n in names[2:]):
        raise UnsupportedForOnnx(f"ONNX export supports Transformer -> Pooling [-> Normalize], not {names}")
    pooling = modules[1]
    mode = getattr(pooling, "pooling_mode", None)  # sentence-transformers >= 6: "mean" or a list
    mean = mode in ("mean", ["mean"], ("mean",)) or getattr(pooling, "pooling_mode_mean_tokens", False) is True
    if not mean:
        raise UnsupportedForOnnx(f"ONNX export supports mean pooling only, not {mode!r}")
    return modules[0], len(names) > 2


def export(model, path: Path) -> None:
    """Export the transformer (dynamic batch and sequence axes) to path, atomically."""
    import torch

    transformer, _ = _pipeline(model)
    auto_model = transformer.auto_model.eval()
    sample = model.tokenizer(["a sample query", "another one"], return_tensors="pt", padding=True)
    names = list(sample.keys())

    class LastHiddenState(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = auto_model

        def forward(self, *inputs):
            return self.model(**dict(zip(names, inputs))).last_hidden_state

    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {name: {0: "batch", 1: "sequence"} for name in names + ["last_hidden_state"]}
    attention = getattr(auto_model.config, "_attn_implementation", None)
    try:
        if attention not in (None, "eager") and hasattr(auto_model, "set_attn_implementation"):
            auto_model.set_attn_implementation("eager")  # the pattern the optimizer can fuse
        with torch.inference_mode(False), torch.no_grad(), atomic_path(path, ".onnx") as partial:
            torch.onnx.export(LastHiddenState(), tuple(sample[n] for n in names), str(partial), input_names=names,
                              output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False)
    finally:
        if attention not in (None, "eager") and hasattr(auto_model, "set_attn_implementation"):
            auto_model.set_attn_implementation(attention)


def fuse(source: Path, target: Path, config) -> bool:
    """Fuse a BERT-style graph's attention, layer norms and GELU (onnxruntime.transformers)
    into target (a name of the caller's own: it is checked before it is used); False when the
    model is not one the optimizer knows."""
    if getattr(config, "model_type", None) not in ("bert", "roberta", "xlm-roberta", "mpnet"):
        return False
    from onnxruntime.transformers import optimizer

    # These share BERT's layer pattern; a fusion that does not fit fails the check against torch.
    fused = optimizer.optimize_model(str(source), model_type="bert", num_heads=config.num_attention_heads,
                                     hidden_size=config.hidden_size, opt_level=1)
    fused.save_model_to_file(str(target))
    return True


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization of the exported transformer, written atomically."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel scales: per-tensor int8 moved MiniLM's vectors to cosine 0.955 (min 0.91)
    # of the float ones on Icecat product texts; per-channel keeps 0.993 (min 0.989).
    import onnx

    # DefaultTensorType: shape inference cannot type the outputs of fused (contrib) operators.
    with atomic_path(target, ".onnx") as partial:
        quantize_dynamic(str(source), str(partial), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def fast_tokenizer_json(tokenizer) -> str:
    """The tokenizers library's JSON of a transformers fast tokenizer (what OnnxTower runs)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise UnsupportedForOnnx(f"ONNX serving needs a fast tokenizer, not {type(tokenizer).__name__}")
    return backend.to_str()


class OnnxTransformer:
    """A sentence-transformers model's transformer exported to ONNX (fused and int8 where
    asked), run by an OnnxTower with the model's own tokenizer."""

    CHECK_TEXTS = ("wireless mouse", "HP 305 black ink cartridge for DeskJet 2700 printers, 120 pages")

    def __init__(self, model, cache_dir: Path, fingerprint: str, threads: int | None = None,
                 quantize: bool = False):
        import onnxruntime

        _, self.normalize = _pipeline(model)
        self.max_length = model.max_seq_length
        if model.tokenizer.pad_token is None:
            raise UnsupportedForOnnx("ONNX serving needs a tokenizer with a padding token")
        self.padding = TokenizerPadding.of(model.tokenizer)
        self.tokenizer_json = fast_tokenizer_json(model.tokenizer)
        self.tokenizer = serving_tokenizer(self.tokenizer_json, self.max_length, self.padding)
        folder = Path(cache_dir) / "onnx" / fingerprint
        eager = folder / "model-eager.onnx"
        if not eager.exists():
            log.info("exporting the tower to ONNX at %s", eager)
            export(model, eager)
        # Fused kernels are ONNX Runtime's own operators: a new version fuses (and checks) afresh.
        fused = self._fused(model, eager, folder / f"onnxruntime-{onnxruntime.__version__}")
        self.tower = None
        for graph in ([fused, eager] if fused else [eager]):
            try:
                path = self._quantized(graph) if quantize else graph
                self.tower = OnnxTower(path, self.tokenizer, self.normalize, threads)
                break
            except Exception as exc:  # e.g. a fused graph this ONNX Runtime cannot load
                log.warning("cannot use %s (%s); trying the unfused graph", graph, exc)
        if self.tower is None:
            raise UnsupportedForOnnx(f"ONNX Runtime could not load the exported tower from {folder}")

    @property
    def path(self) -> Path:
        """The graph that serves."""
        return self.tower.path

    def _fused(self, model, eager: Path, folder: Path) -> Path | None:
        """The fused graph, made and checked against torch once; None where it cannot be had."""
        fused, rejected = folder / "model-fused.onnx", folder / "model-fused.rejected"
        if fused.exists():
            return fused
        if rejected.exists():
            return None
        folder.mkdir(parents=True, exist_ok=True)
        candidate = folder / f"model-fused.{os.getpid()}.candidate.onnx"
        try:
            if not fuse(eager, candidate, model[0].auto_model.config):
                return None
            worst = self._agreement(model, candidate)
        except Exception as exc:  # optimizer missing or failing: unfused for this process only
            log.warning("not fusing the ONNX graph: %s", exc)
            candidate.unlink(missing_ok=True)
            return None
        if worst < 0.9999:  # a wrong fusion is wrong every time: remember it
            log.warning("the fused ONNX graph gave cosine %.5f to torch; serving the unfused one", worst)
            candidate.unlink(missing_ok=True)
            write_atomically(rejected, f"cosine {worst:.6f} to torch on {self.CHECK_TEXTS}\n")
            return None
        os.replace(candidate, fused)  # only a checked graph ever has the name
        return fused

    def _agreement(self, model, graph: Path) -> float:
        """The lowest cosine between the graph's vectors and torch's on CHECK_TEXTS."""
        expected = model.encode(list(self.CHECK_TEXTS), normalize_embeddings=True)
        got = OnnxTower(graph, self.tokenizer, normalize=False, threads=1).encode(list(self.CHECK_TEXTS))
        got /= np.linalg.norm(got, axis=1, keepdims=True)
        return float((got * expected).sum(axis=1).min())

    @staticmethod
    def _quantized(graph: Path) -> Path:
        quantized = graph.with_name(graph.stem + "-int8-per-channel.onnx")
        if not quantized.exists():
            log.info("quantizing the tower to int8 at %s", quantized)
            quantize_int8(graph, quantized)
        return quantized

    def encode(self, texts: Sequence[str], batch_size: int | None = None, show_progress: bool = False) -> np.ndarray:
        return self.tower.encode(texts, batch_size, show_progress)
