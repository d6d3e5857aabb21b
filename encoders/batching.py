"""Batches of texts with similar token counts, so a batch is little padding.

Product texts vary from a few words to the 256-token limit. Batched in character-length
order (what sentence-transformers does), a quarter of each batch of 16 Icecat product texts
was padding; in token-count order, 2%. Counting tokens costs about 0.04 ms a text.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

COUNT_CHUNK = 1024  # texts tokenized at a time to count tokens (bounds the padded arrays)


def token_counts(tokenizer, texts: Sequence[str], max_length: int) -> np.ndarray:
    """Tokens per text, truncated to max_length.

    The call uses the very settings the encoders tokenize with (padding on, longest_first
    truncation): a fast tokenizer keeps them as state shared by every thread, so a call with
    other settings could change a query's batch in another thread."""
    counts = [tokenizer(list(texts[start:start + COUNT_CHUNK]), padding=True, truncation="longest_first",
                        max_length=max_length, return_tensors="np")["attention_mask"].sum(axis=1)
              for start in range(0, len(texts), COUNT_CHUNK)]
    return np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)


def token_length_batches(tokenizer, texts: Sequence[str], max_length: int, batch_size: int):
    """length_batches of the texts' token counts by a transformers tokenizer."""
    return length_batches(token_counts(tokenizer, texts, max_length), batch_size)


def length_batches(counts: np.ndarray, batch_size: int):
    """(order, batches): the texts' indices longest first, cut into index arrays of at most
    batch_size."""
    order = np.argsort(-counts, kind="stable")
    return order, [order[start:start + batch_size] for start in range(0, len(counts), batch_size)]


def in_original_order(order: np.ndarray, chunks: list[np.ndarray]) -> np.ndarray:
    """Vectors computed batch by batch in `order`, put back in the texts' order."""
    stacked = np.concatenate(chunks)
    result = np.empty_like(stacked)
    result[order] = stacked
    return result
