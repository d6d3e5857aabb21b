"""Run an exported tower's transformer with ONNX Runtime and the tokenizers library: no torch.

Both ways a tower runs on ONNX Runtime go through OnnxTower: right after the export from
torch weights (encoders/onnx_backend.py), and from an exported folder in a serving install
without torch (encoders/exported_tower.py). One code path, so the vectors are the same.

A few texts (a query) run on one session with every core; more are cut into batches of
similar token counts spread over single-threaded sessions, one per core: on 2 cores that
beats one two-threaded session on big batches, because a transformer's many small kernels
keep two threads waiting on each other.
"""
from __future__ import annotations

import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from encoders.batching import in_original_order, length_batches

COUNT_CHUNK = 1024  # texts tokenized at a time to count tokens


@dataclass(frozen=True)
class TokenizerPadding:
    """How a transformers tokenizer pads and truncates (its attributes of the same names)."""

    pad_id: int
    pad_token: str
    pad_type_id: int = 0
    padding_side: str = "right"
    truncation_side: str = "right"

    @classmethod
    def of(cls, tokenizer) -> "TokenizerPadding":
        return cls(tokenizer.pad_token_id, tokenizer.pad_token, tokenizer.pad_token_type_id,
                   tokenizer.padding_side, tokenizer.truncation_side)


def serving_tokenizer(tokenizer_json: str, max_length: int, padding: TokenizerPadding):
    """A tokenizers.Tokenizer with the padding and truncation a sentence-transformers encode
    uses (pad to the batch's longest, cut at max_length), set once: a Tokenizer keeps them as
    state, so they are never changed after this."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(tokenizer_json)
    tokenizer.enable_truncation(max_length=max_length, strategy="longest_first", direction=padding.truncation_side)
    tokenizer.enable_padding(pad_id=padding.pad_id, pad_token=padding.pad_token, pad_type_id=padding.pad_type_id,
                             direction=padding.padding_side)
    return tokenizer


def session(path: Path, threads: int):
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


class OnnxTower:
    """Texts to vectors (mean pooling over the transformer's last hidden state, unit length
    when normalize), as the sentence-transformers pipeline computes them."""

    BATCH = 16  # most texts per batch (larger requests are cut to it): small batches pad least
    MAX_WORKERS = 8  # single-threaded sessions for batch jobs; each holds its own copy of the weights

    def __init__(self, graph: Path, tokenizer, normalize: bool, threads: int | None = None):
        """tokenizer: from serving_tokenizer."""
        self.path = Path(graph)
        self.tokenizer = tokenizer
        self.normalize = normalize
        self.threads = threads or usable_cores()
        self.workers = min(self.threads, self.MAX_WORKERS)
        self.session = session(self.path, self.threads)
        self._free: queue.Queue | None = None  # single-threaded sessions for batch jobs, made on first use
        self._free_lock = threading.Lock()

    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        """Tokens per text, truncated as encoding truncates."""
        counts = [np.array([sum(e.attention_mask) for e in self.tokenizer.encode_batch(list(texts[i:i + COUNT_CHUNK]))])
                  for i in range(0, len(texts), COUNT_CHUNK)]
        return np.concatenate(counts).astype(np.int64) if counts else np.zeros(0, dtype=np.int64)

    def run(self, on_session, batch: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(batch)
        features = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                    "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64)}
        inputs = {i.name: features[i.name] for i in on_session.get_inputs()}
        hidden = on_session.run(None, inputs)[0]
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
                    self._free.put(session(self.path, 1))
            return self._free

    def encode(self, texts: Sequence[str], batch_size: int | None = None, show_progress: bool = False) -> np.ndarray:
        """A few texts run on the many-threaded session; more are cut into batches of at most
        BATCH texts of similar token counts, spread over single-threaded sessions, one per core
        (shared by concurrent calls)."""
        from tqdm import tqdm

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        batch_size = min(batch_size or self.BATCH, self.BATCH)
        if len(texts) <= batch_size:
            return self.run(self.session, list(texts))
        order, batches = length_batches(self.token_counts(texts), batch_size)
        free = self._sessions()

        def run(indices):
            taken = free.get()  # each session runs one batch at a time
            try:
                return self.run(taken, [texts[i] for i in indices])
            finally:
                free.put(taken)

        with ThreadPoolExecutor(self.workers) as pool:  # ONNX Runtime releases the GIL while it runs
            chunks = list(tqdm(pool.map(run, batches), total=len(batches), disable=not show_progress, desc="Batches"))
        return in_original_order(order, chunks)
