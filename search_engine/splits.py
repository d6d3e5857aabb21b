"""Split judged queries for training and evaluation without leaks.

Near-duplicate queries ("bluetooth speaker" / "bluetooth speakers", "smart watch" /
"smartwatch", "laptop" / "laptops") would let a model memorise a held-out query through its
twin, so queries are grouped by a normalised key and a whole group always lands on one side.
"""
from __future__ import annotations

import random
import re
from collections import defaultdict
from typing import Iterable, Iterator


def query_group_key(query: str) -> str:
    """Lower case, words singularised (a trailing s dropped from words of 4+ letters), spaces removed."""
    words = re.findall(r"[^\W_]+", query.lower())
    return "".join(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words)


def group_queries(queries: Iterable[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for query in sorted(set(queries)):
        groups[query_group_key(query)].append(query)
    return dict(groups)


def k_fold(queries: Iterable[str], k: int, seed: int = 13) -> Iterator[tuple[list[str], list[str]]]:
    """(train queries, held-out queries) for each of k folds; groups never straddle a split."""
    if k < 2:
        raise ValueError(f"k-fold needs k >= 2, got {k}")
    groups = list(group_queries(queries).values())
    if len(groups) < k:
        raise ValueError(f"{len(groups)} query groups cannot make {k} folds")
    random.Random(seed).shuffle(groups)
    folds = [groups[i::k] for i in range(k)]
    for i in range(k):
        held_out = sorted(q for group in folds[i] for q in group)
        train = sorted(q for j, fold in enumerate(folds) if j != i for group in fold for q in group)
        yield train, held_out
