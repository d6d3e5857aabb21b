"""Run named engine configurations over one judgment list and compare them in one table.

Like PyTerrier's Experiment: each configuration is a mode plus fusion settings (and, from
the workbench, an index version and a shopper to personalize for), all run on the same
queries, scored with the same metrics (see metrics.py for the formulas). The command line
(search-evaluate) and the merchants' workbench both run this.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

from search_engine.engine import Engine, EngineConfig
from search_engine.judgments import Judgments
from search_engine.metrics import METRICS, mean, scores
from search_engine.types import MODES, Query

DEPTH = 100
POOL_DEPTH = 10  # the places whose unjudged products unjudged_pool lists: the ones nDCG@10 reads


@dataclass(frozen=True)
class Configuration:
    name: str
    mode: str = "hybrid"
    fusion: str = "linear"
    dense_weight: float = EngineConfig.dense_weight
    version: str | None = None  # an index version other than the serving one
    user: str | None = None  # personalize every query for this shopper
    ranker: bool = False  # the engine's learned relevance ranker on (it must have one)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode: must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.ranker and self.mode != "hybrid":
            raise ValueError(f"ranker: the relevance ranker reorders hybrid candidates, not {self.mode} ones")
        EngineConfig(fusion=self.fusion, dense_weight=self.dense_weight)  # the engine's own checks

    @classmethod
    def parse(cls, spec: str) -> "Configuration":
        """'keyword', 'dense', 'hybrid-rrf' or 'hybrid-linear[:weight]', each optionally with
        '+ranker' (the learned relevance ranker over its candidates)."""
        base, plus, extra = spec.partition("+")
        if plus and extra != "ranker":
            raise ValueError(f"unknown configuration {spec!r}: the only addition is +ranker")
        name, _, weight = base.partition(":")
        ranker = bool(plus)
        if name in ("keyword", "dense"):
            return cls(spec, mode=name, ranker=ranker)
        if name == "hybrid-rrf":
            return cls(spec, fusion="rrf", ranker=ranker)
        if name == "hybrid-linear":
            return cls(spec, fusion="linear", dense_weight=float(weight) if weight else EngineConfig.dense_weight,
                       ranker=ranker)
        raise ValueError(f"unknown configuration {spec!r}; use keyword, dense, hybrid-rrf or hybrid-linear[:weight], "
                         f"optionally +ranker")


DEFAULT_CONFIGURATIONS = tuple(
    Configuration.parse(s) for s in
    ("keyword", "dense", "hybrid-rrf", "hybrid-linear:0.3", "hybrid-linear:0.4", "hybrid-linear:0.5",
     "hybrid-linear:0.6")
)


@dataclass
class ConfigurationScores:
    configuration: Configuration
    per_query: dict[str, dict[str, float | None]] = field(default_factory=dict)
    top: dict[str, tuple[str, ...]] = field(default_factory=dict)  # query -> its first POOL_DEPTH product ids

    def summary(self) -> dict[str, float | None]:
        return {m: mean(q[m] for q in self.per_query.values()) for m in METRICS}


def configured_engine(engine: Engine, configuration: Configuration,
                      engine_for_version: Callable[[str], Engine] | None = None) -> Engine:
    """The engine a configuration describes: its index version's, with its fusion settings,
    and the relevance ranker on or off."""
    if configuration.ranker and engine.ranker is None:
        raise ValueError("ranker: no relevance ranker is loaded (set ranker_path; train one with search-train ranker)")
    if configuration.version is not None and configuration.version != engine.index.version:
        if engine_for_version is None:
            raise ValueError(f"version: cannot open index version {configuration.version!r} here")
        engine = engine_for_version(configuration.version)
    return replace(engine, config=replace(engine.config, fusion=configuration.fusion,
                                          dense_weight=configuration.dense_weight),
                   ranker=engine.ranker if configuration.ranker else None)


def evaluate(engine: Engine, judgments: Judgments, configurations=DEFAULT_CONFIGURATIONS,
             engine_for_version: Callable[[str], Engine] | None = None,
             correct_spelling: bool = True) -> list[ConfigurationScores]:
    """engine_for_version opens the engine of a configuration that names another index version;
    correct_spelling=False searches every query as typed (search_engine/spelling.py off)."""
    results = []
    for configuration in configurations:
        configured = configured_engine(engine, configuration, engine_for_version)
        scored = ConfigurationScores(configuration)
        for text, grades in judgments.items():
            found = configured.search(Query(text, k=DEPTH, mode=configuration.mode, user=configuration.user,
                                            correct_spelling=correct_spelling))
            ranked = [hit.product.id for hit in found.hits]
            scored.per_query[text] = scores(ranked, grades)
            scored.top[text] = tuple(ranked[:POOL_DEPTH])
        results.append(scored)
    return results


def unjudged_pool(results: list[ConfigurationScores], judgments: Judgments) -> dict[str, dict[str, list[str]]]:
    """What to judge next: per query, each product that some configuration puts in its top
    POOL_DEPTH and nobody judged for the query, with the configurations that put it there
    (TREC-style pooling). Every metric counts such a product as not relevant, so until it is
    judged a configuration that finds other products than the judged ones is marked down."""
    pool: dict[str, dict[str, list[str]]] = {}
    for query, grades in judgments.items():
        found: dict[str, list[str]] = {}
        for result in results:
            for product_id in result.top.get(query, ()):
                if product_id not in grades:
                    found.setdefault(product_id, []).append(result.configuration.name)
        if found:
            pool[query] = found
    return pool


def unjudged_rows(results: list[ConfigurationScores], judgments: Judgments, products) -> list[dict]:
    """unjudged_pool one product a row: query, product_id, title (from `products`, the serving
    catalog: "" for a product only another version holds) and found_by."""
    rows = []
    for query, found in unjudged_pool(results, judgments).items():
        for product_id, names in found.items():
            product = products.get(product_id)
            rows.append({"query": query, "product_id": product_id, "title": product.title if product else "",
                         "found_by": names})
    return rows


@dataclass(frozen=True)
class QueryChange:
    query: str
    before: float | None
    after: float | None

    @property
    def delta(self) -> float:
        return (self.after or 0.0) - (self.before or 0.0)


def query_changes(before: ConfigurationScores, after: ConfigurationScores, metric: str = "ndcg@10") -> list[QueryChange]:
    """Each query's metric under two configurations, the biggest gain first and the biggest loss last."""
    changes = [QueryChange(q, scores[metric], after.per_query.get(q, {}).get(metric))
               for q, scores in before.per_query.items()]
    return sorted(changes, key=lambda c: (-c.delta, c.query))


def figure(value: float | None, digits: int = 4) -> str:
    """A table's number; "-" where there is none (no query of the row has a relevant product)."""
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(results: list[ConfigurationScores]) -> str:
    rows = [("configuration", "nDCG@10", "Recall@100", "MRR", "judged only: nDCG@10", "Judged@10")]
    for result in results:
        summary = result.summary()
        rows.append((result.configuration.name, *(figure(summary[m]) for m in METRICS)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
