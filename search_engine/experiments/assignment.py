"""Who gets which variant: a stable hash of the experiment and the shopper (or, for an
anonymous shopper, the session), so a shopper sees one variant on every request, in every
worker, after every restart, and experiments do not share their splits."""
from __future__ import annotations

import hashlib

from search_engine.experiments.definition import INTERLEAVED, Experiment


def bucket(experiment_id: int | None, unit: str) -> float:
    """A number in [0, 1), uniform over units and independent between experiments."""
    digest = hashlib.sha256(f"{experiment_id}\x00{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def assigned(experiment: Experiment, unit: str) -> str | None:
    """The variant this unit is served (INTERLEAVED for an interleaved one), or None when it is
    outside the experiment's traffic."""
    point = bucket(experiment.id, unit)
    if experiment.kind == "interleaving":
        return INTERLEAVED if point < experiment.traffic else None
    edge = 0.0
    for variant in experiment.variants:
        edge += variant.share
        if point < edge:
            return variant.name
    return None
