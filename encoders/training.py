"""Fine-tune the towers on a shop's own query-product pairs.

Loss: MultipleNegativesRankingLoss (in-batch negatives). Each (query, relevant product)
pair is scored against every other product in the batch, plus one mined hard negative per
pair: it needs only positive pairs, which is what judgments and clicks give, and the hard
negatives teach the fine distinctions (the toner for another printer) that random in-batch
products do not. Batches never hold the same query twice, so another relevant product of
the same query is never counted as a negative.

The towers share weights by default. `asymmetric()` splits them into two copies behind a
sentence-transformers Router (query route, document route), so each tower can specialise:
short keyword-ish queries on one side, long product texts on the other. Either way the
result is a plain sentence-transformers folder (`encode_query` / `encode_document`).
"""
from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingPair:
    query: str
    positive: str  # product text, as the product tower reads it
    negative: str | None = None


@dataclass
class TrainingConfig:
    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    scale: float = 20.0  # MultipleNegativesRankingLoss temperature (1/0.05), its usual value
    seed: int = 13


@dataclass
class TrainingReport:
    pairs: int
    steps: int
    seconds: float
    losses: list[float] = field(default_factory=list)  # mean loss per epoch

    def to_dict(self) -> dict:
        return asdict(self)


def batches(pairs: Sequence[TrainingPair], batch_size: int, rng: random.Random) -> list[list[TrainingPair]]:
    """Shuffled batches in which no query and no positive appears twice."""
    pending = list(pairs)
    rng.shuffle(pending)
    result: list[list[TrainingPair]] = []
    while pending:
        batch, queries, positives, rest = [], set(), set(), []
        for pair in pending:
            if len(batch) < batch_size and pair.query not in queries and pair.positive not in positives:
                batch.append(pair)
                queries.add(pair.query)
                positives.add(pair.positive)
            else:
                rest.append(pair)
        result.append(batch)
        pending = rest
    return [b for b in result if len(b) > 1]  # a lone pair has no in-batch negatives


def asymmetric(model):
    """Separate query and product towers, both starting from model's weights."""
    import copy

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Router

    from encoders.towers import is_asymmetric

    if is_asymmetric(model):
        return model
    modules = list(model)
    core = [m for m in modules if type(m).__name__ != "Normalize"]
    tail = modules[len(core):]
    router = Router.for_query_document(query_modules=copy.deepcopy(core), document_modules=copy.deepcopy(core))
    return SentenceTransformer(modules=[router, *tail], device=str(model.device))


def fine_tune(model, pairs: Sequence[TrainingPair], config: TrainingConfig | None = None,
              show_progress: bool = False) -> TrainingReport:
    """Train a SentenceTransformer in place with MultipleNegativesRankingLoss."""
    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from tqdm import tqdm

    config = config or TrainingConfig()
    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    loss_fn = MultipleNegativesRankingLoss(model, scale=config.scale)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    planned = [batches(pairs, config.batch_size, rng) for _ in range(config.epochs)]
    total = sum(len(b) for b in planned)
    if total == 0:
        raise ValueError("no training batch: in-batch negatives need pairs from at least two different queries")
    warmup = max(1, int(total * config.warmup_ratio))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (total - step) / max(1, total - warmup)))
    model.train()
    started, report = time.perf_counter(), TrainingReport(pairs=len(pairs), steps=total, seconds=0.0)
    with tqdm(total=total, disable=not show_progress, desc="Training") as progress:
        for epoch_batches in planned:
            epoch_losses = []
            for batch in epoch_batches:
                columns = [[p.query for p in batch], [p.positive for p in batch]]
                if all(p.negative for p in batch):
                    columns.append([p.negative for p in batch])
                # The task routes each column through its tower in an asymmetric model.
                tasks = ["query"] + ["document"] * (len(columns) - 1)
                features = [_to_device(model.preprocess(column, task=task), model.device)
                            for column, task in zip(columns, tasks)]
                loss = loss_fn(features, torch.zeros(len(batch), device=model.device))
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                epoch_losses.append(float(loss.detach()))
                progress.update(1)
                progress.set_postfix(loss=f"{epoch_losses[-1]:.3f}")
            report.losses.append(sum(epoch_losses) / max(1, len(epoch_losses)))
    model.eval()
    report.seconds = round(time.perf_counter() - started, 1)
    return report


def _to_device(features: dict, device) -> dict:
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}


def save_tower(model, output: Path, card: dict) -> None:
    """A plain sentence-transformers folder, plus a model card saying how it was made."""
    output = Path(output)
    model.save(str(output))
    (output / "training.json").write_text(json.dumps(card, indent=2))
    (output / "README.md").write_text(model_card(card))


def model_card(card: dict) -> str:
    lines = [
        f"# {card.get('name', 'Fine-tuned product search tower')}",
        "",
        "A sentence-transformers model fine-tuned for product search. "
        + ("Asymmetric: a Router holds a separate query tower and product tower; encode with "
           "`model.encode_query(...)` and `model.encode_document(...)`."
           if card.get("asymmetric") else "The query tower and the product tower share these weights."),
        "Load it anywhere with `SentenceTransformer(\"<this folder>\")`.",
        "",
        f"- Base model: {card.get('base_model')}",
        f"- Training data: {card.get('data')}",
        f"- Loss: {card.get('loss')}",
        f"- Training: {card.get('training')}",
        f"- Product text: {card.get('product_text')}",
        "",
        "## Metrics",
        "",
    ]
    metrics = card.get("metrics") or {}
    if not metrics:
        lines.append("Not evaluated at save time; see the project's docs/training.md.")
    for name, value in metrics.items():
        lines.append(f"- {name}: {value}")
    return "\n".join(lines) + "\n"
