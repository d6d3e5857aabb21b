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
serves). Batches of product texts run on one single-threaded session per core in parallel,
small batches of similar length each: on 2 cores that beats one two-threaded session on big
batches, because a transformer's many small kernels keep two threads waiting on each other.

quantize=True serves a dynamically int8-quantized copy (onnxruntime.quantization: weights
stored as int8, activations quantized on the fly): about 4x smaller and faster on CPUs with
int8 instructions, at a small cost in vector precision (measured in docs/benchmarks.md).
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from encoders.atomic_files import atomic_path, write_atomically
from encoders.batching import in_original_order, token_length_batches

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


def _session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle worker threads must not spin: on a small machine they steal the cores the web
    # server, the keyword index and FAISS need between two queries.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def usable_cores() -> int:
    """The CPUs this process may run on (a container's share, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class OnnxTransformer:
    """Texts to unit vectors with ONNX Runtime, matching the sentence-transformers pipeline."""

    BATCH = 16  # most texts per batch (larger requests are cut to it): small batches pad least
    MAX_WORKERS = 8  # single-threaded sessions for batch jobs; each holds its own copy of the weights
    CHECK_TEXTS = ("wireless mouse", "HP 305 black ink cartridge for DeskJet 2700 printers, 120 pages")

    def __init__(self, model, cache_dir: Path, fingerprint: str, threads: int | None = None,
                 quantize: bool = False):
        import onnxruntime

        _, self.normalize = _pipeline(model)
        self.tokenizer = model.tokenizer
        self.max_length = model.max_seq_length
        self.threads = threads or usable_cores()
        self.workers = min(self.threads, self.MAX_WORKERS)  # sessions for batch jobs
        folder = Path(cache_dir) / "onnx" / fingerprint
        eager = folder / "model-eager.onnx"
        if not eager.exists():
            log.info("exporting the tower to ONNX at %s", eager)
            export(model, eager)
        # Fused kernels are ONNX Runtime's own operators: a new version fuses (and checks) afresh.
        fused = self._fused(model, eager, folder / f"onnxruntime-{onnxruntime.__version__}")
        self.path, self.session = None, None
        for graph in ([fused, eager] if fused else [eager]):
            try:
                path = self._quantized(graph) if quantize else graph
                self.session = _session(path, self.threads)
                self.path = path
                break
            except Exception as exc:  # e.g. a fused graph this ONNX Runtime cannot load
                log.warning("cannot use %s (%s); trying the unfused graph", graph, exc)
        if self.session is None:
            raise UnsupportedForOnnx(f"ONNX Runtime could not load the exported tower from {folder}")
        self._free: queue.Queue | None = None  # single-threaded sessions for batch jobs, made on first use
        self._free_lock = threading.Lock()

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
        got = self._run(_session(graph, 1), list(self.CHECK_TEXTS))
        got /= np.linalg.norm(got, axis=1, keepdims=True)
        return float((got * expected).sum(axis=1).min())

    @staticmethod
    def _quantized(graph: Path) -> Path:
        quantized = graph.with_name(graph.stem + "-int8-per-channel.onnx")
        if not quantized.exists():
            log.info("quantizing the tower to int8 at %s", quantized)
            quantize_int8(graph, quantized)
        return quantized

    def _run(self, session, batch: list[str]) -> np.ndarray:
        # Always the same padding and truncation settings: a fast tokenizer keeps them as state
        # shared by every thread, so a call with other settings could change another's batch.
        features = self.tokenizer(batch, return_tensors="np", padding=True, truncation="longest_first",
                                  max_length=self.max_length)
        inputs = {i.name: features[i.name].astype(np.int64) for i in session.get_inputs()}
        hidden = session.run(None, inputs)[0]
        mask = features["attention_mask"][..., None].astype(np.float32)
        vectors = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        if self.normalize:
            vectors /= np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        return vectors.astype(np.float32)

    def _sessions(self) -> queue.Queue:
        with self._free_lock:
            if self._free is None:
                self._free = queue.Queue()
                for _ in range(self.workers):
                    self._free.put(_session(self.path, 1))
            return self._free

    def encode(self, texts: Sequence[str], batch_size: int | None = None, show_progress: bool = False) -> np.ndarray:
        """A few texts (a query) run on the one many-threaded session; more are cut into batches
        of at most BATCH texts of similar token counts, spread over single-threaded sessions,
        one per core (shared by concurrent calls)."""
        from tqdm import tqdm

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        batch_size = min(batch_size or self.BATCH, self.BATCH)
        if len(texts) <= batch_size:
            return self._run(self.session, list(texts))
        order, batches = token_length_batches(self.tokenizer, texts, self.max_length, batch_size)
        free = self._sessions()

        def run(indices):
            session = free.get()  # each session runs one batch at a time
            try:
                return self._run(session, [texts[i] for i in indices])
            finally:
                free.put(session)

        with ThreadPoolExecutor(self.workers) as pool:  # ONNX Runtime releases the GIL while it runs
            chunks = list(tqdm(pool.map(run, batches), total=len(batches), disable=not show_progress, desc="Batches"))
        return in_original_order(order, chunks)
