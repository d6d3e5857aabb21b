"""Batches of texts with similar token counts, so a batch is little padding.

Product texts vary from a few words to the 256-token limit. Batched in character-length
order (what sentence-transformers does), a quarter of each batch of 16 Icecat product texts
was padding; in token-count order, 2%. Tokenizing first costs about 0.04 ms a text.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def token_length_batches(tokenizer, texts: Sequence[str], max_length: int, batch_size: int):
    """(tokens, order, batches): the texts tokenized without padding, the indices longest
    first, and that order cut into index arrays of at most batch_size."""
    tokens = tokenizer(list(texts), truncation=True, max_length=max_length)
    order = np.argsort([-len(ids) for ids in tokens["input_ids"]], kind="stable")
    return tokens, order, [order[start:start + batch_size] for start in range(0, len(texts), batch_size)]


def in_original_order(order: np.ndarray, chunks: list[np.ndarray]) -> np.ndarray:
    """Vectors computed batch by batch in `order`, put back in the texts' order."""
    stacked = np.concatenate(chunks)
    result = np.empty_like(stacked)
    result[order] = stacked
    return result
