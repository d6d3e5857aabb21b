"""Fine-tune the query and product towers on the shop's judgments (and clicks), and measure it.

  search-train train   train on all judged queries and save a sentence-transformers folder
  search-train cv      k-fold cross-validation over queries: zero-shot vs fine-tuned, dense
                       and hybrid, on held-out queries only (each fold re-encodes the catalog)
  search-train fusion  fit the hybrid weight (one global, or one per kind of query) on each
                       fold's training queries and score it on the held-out ones
  search-train keyword fit the keyword leg's term-centric field weights the same way, and
                       compare them with field-centric and untuned term-centric scoring
  search-train ranker  k-fold cross-validation of the learned relevance ranker (held-out
                       nDCG@10 per kind of query against the fused order and plain BM25),
                       then train it on all judged queries and save a version
  search-train matching fit the matched set's dense floor (which products a query matches
                       besides those holding its words) the same way, by the set's F1 over
                       the judged products

Hard negatives are mined from the serving index given with --index (built with the tower you
start from). Reindexing with the trained tower is one command:
  search-reindex full --model var/towers/icecat --index var/index

Examples:
  search-train train --index var/icecat-index --output var/towers/icecat --synthetic 2000
  search-train cv --index var/icecat-index --folds 3 --synthetic 2000 --work var/cv
  search-train cv --index var/icecat-index --folds 3 --asymmetric --work var/cv-asym
  search-train fusion --index var/icecat-index --folds 3            (zero-shot legs)
  search-train fusion --work var/cv --folds 3                       (each fold's fine-tuned legs)
  search-train keyword --index var/icecat-index --folds 3
  search-train ranker --index var/icecat-index --output var/rankers   (then SEARCH_RANKER_PATH=var/rankers)
  search-train matching --index var/icecat-index --folds 5          (then SEARCH_DENSE_FLOOR=<printed>)
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from scripts.common import ICECAT_JUDGMENTS, check_judgments, setup_logging

LOSS = "MultipleNegativesRankingLoss (scale 20) with one mined hard negative per pair"
CONFIGS = ("dense", "hybrid-rrf", "hybrid-linear:0.3", "hybrid-linear:0.4", "hybrid-linear:0.5",
           "hybrid-linear:0.6")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="search-train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (("train", "train on all judged queries"), ("cv", "k-fold cross-validation")):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--index", default="var/index", help="serving index to mine hard negatives from")
        sub.add_argument("--judgments", default=str(ICECAT_JUDGMENTS), help="query,docid,rating CSV")
        sub.add_argument("--events", help="JSONL click log: clicks, carts and purchases become positives")
        sub.add_argument("--base-model", default=None, help="tower to start from (default: packaged MiniLM)")
        sub.add_argument("--synthetic", type=int, default=0,
                         help="add about N queries generated from the catalog (default 0)")
        sub.add_argument("--asymmetric", action="store_true",
                         help="separate query and product towers (a Router model) instead of shared weights")
        sub.add_argument("--epochs", type=int, default=1)
        sub.add_argument("--batch-size", type=int, default=32)
        sub.add_argument("--learning-rate", type=float, default=2e-5)
    commands.choices["train"].add_argument("--output", required=True, help="folder for the trained tower")
    cv = commands.choices["cv"]
    cv.add_argument("--folds", type=int, default=3)
    cv.add_argument("--work", default="var/cv", help="folder for each fold's tower and index")
    cv.add_argument("--json", help="write per-fold figures here")
    _fitting_command(commands, "keyword", "fit term-centric field weights and the attribute length limit with "
                     "cross-validation", "; prints the reindex command that applies the settings fitted on all queries",
                     "index whose products and dense leg to use", folds=3)
    ranker = _fitting_command(
        commands, "ranker", "cross-validate and train the learned relevance ranker",
        " on held-out query groups, then train it on all judged queries (or all logged searches, with --clicks-*; "
        "both, with --with-judgments) "
        "and save a version", "index whose fused candidates to rank", folds=5)
    ranker.add_argument("--output", default="var/rankers", help="folder of ranker versions (the ranker_path setting)")
    ranker.add_argument("--cv-only", action="store_true", help="report the cross-validation, save nothing")
    clicks = ranker.add_mutually_exclusive_group()
    clicks.add_argument("--clicks-log", metavar="JSONL",
                        help="train from these logged searches and what shoppers did (position-debiased) "
                             "instead of the judgments; the judgments still measure it")
    clicks.add_argument("--clicks-db", metavar="SQLITE", help="the same from an event store (e.g. var/events.sqlite3)")
    ranker.add_argument("--no-position-debias", action="store_true",
                        help="with clicks: learn from them as logged, without dividing out position bias (to compare)")
    ranker.add_argument("--with-judgments", action="store_true",
                        help="with clicks: train on the judged queries and the logged searches together (the "
                             "judgments still measure it, held out)")
    ranker.add_argument("--json", help="write the per-fold and per-kind figures here")
    ranker.add_argument("--work", help="a `cv --work` folder made with the same --folds: fold i's candidates come "
                                       "from fold i's fine-tuned towers and index (towers and ranker measured "
                                       "together, held out); reports only, saves nothing")
    _fitting_command(commands, "matching", "fit the matched set's dense floor with cross-validation",
                     "; prints the floor fitted on all queries and the setting that applies it",
                     "index whose keyword matches and product vectors to use", folds=5)
    fusion = _fitting_command(commands, "fusion", "fit fusion weights with cross-validation", "",
                              "index whose legs to fuse", folds=3)
    fusion.add_argument("--work", help="a cv --work folder: fold i uses fold i's fine-tuned tower and index")
    return parser.parse_args(argv)


def _fitting_command(commands, name: str, summary: str, more: str, index_help: str, folds: int):
    """A subcommand that fits on judged queries with k-fold cross-validation: --index, --judgments, --folds."""
    command = commands.add_parser(name, help=summary, description=summary + more)
    command.add_argument("--index", default="var/index", help=index_help)
    command.add_argument("--judgments", default=str(ICECAT_JUDGMENTS))
    command.add_argument("--folds", type=int, default=folds)
    return command


def training_pairs(args, engine, judgments, queries, exclude=()):
    from search_engine.training_data import event_pairs, judged_pairs, mine_hard_negatives, synthetic_pairs

    store = engine.index.products
    negatives = mine_hard_negatives(engine, judgments, queries)
    pairs = judged_pairs(judgments, queries, store, negatives)
    if args.events:
        pairs += event_pairs(args.events, store, exclude_queries=set(exclude))
    if args.synthetic:
        pairs += synthetic_pairs(store.live_products(), args.synthetic, exclude_queries=exclude)
    return pairs


def train_one(args, engine, judgments, queries, output: Path, exclude=()) -> dict:
    import torch

    from encoders.model_resolution import resolve_model
    from encoders.towers import weights_fingerprint
    from encoders.training import TrainingConfig, asymmetric, fine_tune, save_tower

    pairs = training_pairs(args, engine, judgments, queries, exclude)
    base_name = args.base_model or "all-MiniLM-L6-v2"
    base_path = resolve_model(args.base_model)
    from sentence_transformers import SentenceTransformer

    # The whole model, not a tower's view: an asymmetric base keeps training both routes.
    model = SentenceTransformer(base_path, device="cuda" if torch.cuda.is_available() else "cpu")
    base_fingerprint = weights_fingerprint(model)
    if args.asymmetric:
        model = asymmetric(model)
    config = TrainingConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate)
    print(f"training {'asymmetric' if args.asymmetric else 'shared'} towers on {len(pairs)} pairs from "
          f"{len(queries)} queries{f' + ~{args.synthetic} synthetic' if args.synthetic else ''}...", file=sys.stderr)
    report = fine_tune(model, pairs, config, show_progress=True)
    card = {
        "name": f"Product search {'towers' if args.asymmetric else 'tower'} fine-tuned from {base_name}",
        "asymmetric": args.asymmetric,
        "base_model": f"{base_name} (fingerprint {base_fingerprint})",
        "data": f"{len(queries)} judged queries from {args.judgments}"
                + (f", click log {args.events}" if args.events else "")
                + (f", ~{args.synthetic} catalog-generated queries" if args.synthetic else "")
                + f"; {len(pairs)} pairs",
        "loss": LOSS,
        "training": f"{config.epochs} epoch(s), batch {config.batch_size}, lr {config.learning_rate}, "
                    f"{report.steps} steps in {report.seconds}s on {model.device}; mean loss per epoch "
                    f"{[round(x, 4) for x in report.losses]}",
        "product_text": "encoders/product_text.py: title, brand and category when missing from it, description",
        "queries": sorted(queries),
    }
    save_tower(model, output, card)
    return {"pairs": len(pairs), "train_seconds": report.seconds, "losses": report.losses}


def run_train(args) -> int:
    from search_engine.factory import open_engine
    from search_engine.judgments import load_judgments
    from search_engine.settings import load_settings

    judgments = load_judgments(args.judgments)
    engine = open_engine(load_settings(index_root=args.index, model=args.base_model, ranker_path=""))
    check_judgments(judgments, engine.index.products, args.judgments)
    figures = train_one(args, engine, judgments, sorted(judgments), Path(args.output))
    print(json.dumps(figures))
    print(f"saved {args.output}; reindex with: search-reindex full --model {args.output} --index {args.index}")
    return 0


def run_cv(args) -> int:
    from encoders.towers import Towers
    from indexer.build import build_version
    from search_engine.engine import Engine
    from search_engine.evaluation import Configuration, evaluate
    from search_engine.factory import open_engine
    from search_engine.judgments import load_judgments
    from search_engine.settings import load_settings
    from search_engine.splits import k_fold
    from indexer.search_index import SearchIndex

    judgments = load_judgments(args.judgments)
    base = open_engine(load_settings(index_root=args.index, model=args.base_model, encoder_backend="torch",
                                      ranker_path=""))
    check_judgments(judgments, base.index.products, args.judgments)
    products = base.index.products.live_products()
    configurations = [Configuration.parse(c) for c in CONFIGS]
    work = Path(args.work)
    folds = []
    for fold, (train, held_out) in enumerate(k_fold(judgments, args.folds), start=1):
        print(f"fold {fold}/{args.folds}: {len(train)} training queries, {len(held_out)} held out", file=sys.stderr)
        tower_dir = work / f"fold{fold}-tower"
        figures = train_one(args, base, judgments, train, tower_dir, exclude=held_out)
        tuned = Towers.load(str(tower_dir))
        started = time.perf_counter()
        build_version(products, tuned.product, work / f"fold{fold}-index", keep=1)
        figures["encode_seconds"] = round(time.perf_counter() - started, 1)
        engine = Engine(SearchIndex.open_current(work / f"fold{fold}-index"), tuned)
        held = {q: judgments[q] for q in held_out}
        figures["zero_shot"] = {r.configuration.name: r.summary() for r in evaluate(base, held, configurations)}
        figures["fine_tuned"] = {r.configuration.name: r.summary() for r in evaluate(engine, held, configurations)}
        figures["held_out"] = held_out
        folds.append(figures)
        print(json.dumps({k: v for k, v in figures.items() if k != "held_out"}), file=sys.stderr)
    print(cv_table(folds))
    if args.json:
        Path(args.json).write_text(json.dumps(folds, indent=1))
    return 0


def check_cv_work(work: str, folds: int, judgments) -> None:
    """A `cv --work` folder is only meaningful with the folds it was made with: the same fold
    count and judgments, so that each fold's towers never saw its held-out queries."""
    from search_engine.splits import k_fold

    made = sorted(int(p.name[4:-6]) for p in Path(work).glob("fold*-tower") if p.name[4:-6].isdigit())
    if made != list(range(1, folds + 1)):
        raise ValueError(f"--work {work}: it holds towers for folds {made or 'none'}; run it with the --folds that "
                         f"`search-train cv --work {work}` used ({len(made) or '?'}), not {folds}")
    for fold, (train, _) in enumerate(k_fold(judgments, folds), start=1):
        card = json.loads((Path(work) / f"fold{fold}-tower" / "training.json").read_text())
        if sorted(card.get("queries", [])) != sorted(train):
            raise ValueError(f"--work {work}: fold {fold}'s towers were trained on other queries than these "
                             "judgments put in its training side; use the judgments `search-train cv` used")


def fold_engine(work: str, fold: int, settings):
    """Fold `fold` of a `search-train cv --work` folder: its fine-tuned towers over its own
    index, searched as the settings say (fusion, depths, floor)."""
    from encoders.towers import Towers
    from indexer.search_index import SearchIndex
    from search_engine.engine import Engine

    folder = Path(work)
    towers = Towers.load(str(folder / f"fold{fold}-tower"))
    return Engine(SearchIndex.open_current(folder / f"fold{fold}-index"), towers, settings.engine_config())


def run_fusion(args) -> int:
    from search_engine.engine import EngineConfig
    from search_engine.evaluation import figure
    from search_engine.factory import open_engine
    from search_engine.fusion_tuning import fit_weight, fit_weights_by_kind, fused_ndcg
    from search_engine.judgments import load_judgments
    from search_engine.metrics import mean
    from search_engine.settings import load_settings
    from search_engine.splits import k_fold
    from search_engine.understanding.analysis import QUERY_KINDS, analyze

    judgments = load_judgments(args.judgments)
    settings = load_settings(index_root=args.index, encoder_backend="torch", ranker_path="")
    if args.work:
        check_cv_work(args.work, args.folds, judgments)
    shared = None if args.work else open_engine(settings)
    if shared is not None:
        check_judgments(judgments, shared.index.products, args.judgments)
    names = ("plain keyword (weight 0)", "default weight", "fitted global weight", "fitted weight per query kind")
    rows = {name: [] for name in names}
    per_query: dict[str, dict[str, float | None]] = {name: {} for name in names}
    held_out_kinds: dict[str, str] = {}  # each query's kind in the fold that held it out
    for fold, (train, held_out) in enumerate(k_fold(judgments, args.folds), start=1):
        engine = fold_engine(args.work, fold, settings) if args.work else shared
        vocabulary = engine.vocabulary.get()
        kinds = {q: analyze(q, engine.query_vectors(q), vocabulary).kind for q in judgments}
        held_out_kinds.update({q: kinds[q] for q in held_out})
        store = engine.index.products
        doc_ids = [p.id if p else "" for p in store.by_doc()]
        legs = {q: engine.served_legs(q) for q in judgments}
        train_legs = {q: legs[q] for q in train}
        weight = fit_weight(train_legs, judgments, doc_ids)
        by_kind = fit_weights_by_kind(train_legs, judgments, doc_ids, kinds)
        weight_of = {names[0]: lambda q: 0.0, names[1]: lambda q: EngineConfig.dense_weight,
                     names[2]: lambda q: weight, names[3]: lambda q: by_kind.get(kinds[q], weight)}
        for name, of in weight_of.items():
            for query in held_out:
                per_query[name][query] = fused_ndcg({query: legs[query]}, judgments, doc_ids, of)
            fold_mean = mean(per_query[name][q] for q in held_out)
            if fold_mean is not None:  # None: no held-out query with a relevant product
                rows[name].append(fold_mean)
        print(f"fold {fold}: global weight {weight}, per kind {by_kind}; held-out nDCG@10 "
              + ", ".join(f"{k} {v[-1]:.4f}" for k, v in rows.items() if v), file=sys.stderr)
    print("hybrid-linear on held-out queries | nDCG@10 mean of the fold means (sd)")
    for name, values in rows.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{name:33} | " + (f"{statistics.mean(values):.4f} ({spread:.4f})" if values else "-"))
    print("held-out nDCG@10 by kind of query | " + " | ".join(names))
    for kind in QUERY_KINDS:
        queries = [q for q in judgments if held_out_kinds[q] == kind]
        cells = [mean(per_query[name][q] for q in queries) for name in names]
        print(f"{kind} ({len(queries)} queries) | " + " | ".join(figure(c) for c in cells))
    print("(serving uses one weight for every query, dense_weight; per-kind weights are reported to check "
          "whether a kind needs its own on this shop's judgments)")
    return 0


def run_matching(args) -> int:
    from search_engine.evaluation import figure
    from search_engine.factory import open_engine
    from search_engine.fusion import fuse
    from search_engine.judgments import load_judgments
    from search_engine.matching import live_only
    from search_engine.matching_tuning import fit_floor, materials_by_query, mean_quality
    from search_engine.metrics import mean
    from search_engine.settings import load_settings
    from search_engine.splits import k_fold
    from search_engine.types import Query

    judgments = load_judgments(args.judgments)
    settings = load_settings(index_root=args.index, ranker_path="")
    engine = open_engine(settings)
    check_judgments(judgments, engine.index.products, args.judgments)
    config, snapshot = engine.config, engine.index.snapshot()
    products = snapshot.products
    id_of = [p.id if p else "" for p in products.by_doc()]
    keyword, dense, ranked = {}, {}, {}
    for query in judgments:
        docs, _ = live_only(*snapshot.keyword.matches(query), products.size, products.live.mask())
        keyword[query] = frozenset(id_of[d] for d in docs)
        hits = snapshot.vectors.search(engine.query_vectors(query), config.dense_match_limit)
        dense[query] = tuple((id_of[d], s) for d, s in hits)
        fused = fuse(config.fusion, *engine.legs(Query(query), config.candidates), config.dense_weight, config.rrf_k)
        ranked[query] = tuple(id_of[d] for d, _ in fused)
    materials = materials_by_query(judgments, keyword, dense, ranked, {i for i in id_of if i})
    names = ("words only (no dense floor)", f"configured floor {config.dense_floor}", "fitted floor")
    held_out: dict[str, dict[str, list]] = {name: {} for name in names}
    for fold, (train, test) in enumerate(k_fold(judgments, args.folds), start=1):
        floor = fit_floor([materials[q] for q in train])
        for name, value in zip(names, (2.0, config.dense_floor, floor)):
            figures = mean_quality([materials[q] for q in test], value)
            for metric, number in figures.items():
                held_out[name].setdefault(metric, []).append(number)
        print(f"fold {fold}: fitted floor {floor}", file=sys.stderr)
    metrics = ("f1", "recall", "precision", "ndcg@10", "median size")
    print(f"matched set on held-out queries ({args.folds} folds) | " + " | ".join(metrics))
    for name in names:
        print(f"{name} | " + " | ".join(figure(mean(held_out[name][m]), 0 if m == "median size" else 4)
                                         for m in metrics))
    floor = fit_floor(list(materials.values()))
    print(f"floor fitted on all {len(materials)} queries: {floor} (set it: SEARCH_DENSE_FLOOR={floor}, "
          f"or dense_floor = {floor} in the settings file)")
    return 0


def run_keyword(args) -> int:
    from dataclasses import replace

    from indexer.keyword.base import DEFAULT_FIELD_WEIGHTS, KeywordConfig
    from indexer.keyword.factory import keyword_config
    from search_engine.evaluation import figure
    from search_engine.factory import open_engine
    from search_engine.judgments import load_judgments
    from search_engine.keyword_tuning import fit_keyword_config, hybrid_score, scored_queries
    from search_engine.metrics import mean
    from search_engine.settings import load_settings
    from search_engine.splits import k_fold

    judgments = load_judgments(args.judgments)
    settings = load_settings(index_root=args.index, ranker_path="")  # the legs as they are, no ranker
    if settings.fusion != "linear":
        raise ValueError(f"fusion: the weights are fitted for linear fusion (the setting is {settings.fusion!r})")
    engine = open_engine(settings)
    check_judgments(judgments, engine.index.products, args.judgments)
    serving = keyword_config(engine.index.manifest)  # its boosts and typo settings carry over
    store = engine.index.products
    products = store.by_doc()
    doc_ids = [p.id if p else "" for p in products]
    dense = {query: engine.served_legs(query)[0] for query in judgments}
    depth = engine.config.candidates  # how deep the engine reads each leg before fusing
    weight = settings.dense_weight
    untuned = replace(serving, scoring="term-centric", field_weights=dict(DEFAULT_FIELD_WEIGHTS))
    limit = KeywordConfig.attribute_max_chars
    fixed = {"field-centric (boosts)": replace(serving, scoring="field-centric", attribute_max_chars=0),
             "term-centric, all 1, every attribute": replace(untuned, attribute_max_chars=0),
             f"term-centric, all 1, attributes <= {limit} chars": replace(untuned, attribute_max_chars=limit)}
    rows: dict[str, list[float]] = {name: [] for name in (*fixed, "term-centric, fitted")}
    unscored = len(judgments) - len(scored_queries(judgments, list(judgments)))
    if unscored:
        print(f"{unscored} of the {len(judgments)} queries have no product graded above 0: nDCG@10 scores none of "
              "them, so they are left out of fitting and of the figures", file=sys.stderr)
    for fold, (train, held_out) in enumerate(k_fold(judgments, args.folds), start=1):
        unscored_side = next((side for side, queries in (("held-out", held_out), ("training", train))
                              if not scored_queries(judgments, queries)), None)
        if unscored_side:
            print(f"fold {fold}: no {unscored_side} query has a product graded above 0; the fold is not scored",
                  file=sys.stderr)
            continue
        fitted, _ = fit_keyword_config(products, dense, judgments, doc_ids, train, weight, base=serving,
                                       candidates=depth)
        for name, config in (*fixed.items(), ("term-centric, fitted", fitted)):
            rows[name].append(hybrid_score(config, products, dense, judgments, doc_ids, held_out, weight, depth))
        print(f"fold {fold}: fitted {fitted.field_weights}, attributes up to {fitted.attribute_max_chars} chars, "
              f"accents {'folded' if fitted.fold_accents else 'kept'}; "
              "held-out hybrid nDCG@10 " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in rows.items()), file=sys.stderr)
    scored_folds = len(next(iter(rows.values())))
    print(f"hybrid-linear:{weight} on held-out queries, {scored_folds} of {args.folds} folds | nDCG@10 mean (sd)")
    for name, values in rows.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{name:42} | {figure(mean(values))} ({spread:.4f})")
    fitted, score = fit_keyword_config(products, dense, judgments, doc_ids, list(judgments), weight, base=serving,
                                       candidates=depth)
    print(f"fitted on all {len(judgments) - unscored} scored queries: {fitted.field_weights}, attributes up to "
          f"{fitted.attribute_max_chars} chars (0: all), accents {'folded' if fitted.fold_accents else 'kept'} "
          f"(in-sample hybrid nDCG@10 {score:.4f}); apply with your "
          f"catalog (other settings follow the serving version; --no-switch stages it to compare first):\n"
          f"  search-reindex full --index {args.index} --catalog YOUR_CATALOG --keyword-scoring term-centric "
          f"--field-weights " + ",".join(f"{k}={v}" for k, v in fitted.field_weights.items())
          + f" --attribute-max-chars {fitted.attribute_max_chars} --{'' if fitted.fold_accents else 'no-'}fold-accents")
    if engine.index.manifest["encoder"].get("source") not in (None, "all-MiniLM-L6-v2"):
        print("note: the dense leg comes from a tower that may have been fine-tuned on these same judgments; "
              "then the held-out figures above are optimistic", file=sys.stderr)
    return 0


def _events(log: str | None, database: str | None) -> list:
    from search_engine.event_store import EventStore
    from search_engine.events import read_jsonl_events

    if log:
        return list(read_jsonl_events(log))
    if not Path(database).exists():
        raise FileNotFoundError(f"no event store at {database}")
    return list(EventStore(database).all())


def run_ranker(args) -> int:
    from dataclasses import replace

    from search_engine.evaluation import DEPTH, figure
    from search_engine.factory import open_engine
    from search_engine.judgments import load_judgments
    from search_engine.metrics import mean, ndcg_at_k
    from search_engine.settings import load_settings
    from search_engine.splits import k_fold
    from search_engine.types import Query
    from search_engine.understanding.vocabulary import ACCURACY_SAMPLE
    from search_engine.understanding.ranker_training import click_lists, cross_validate, cross_validate_per_fold, \
        judged_summary, kinds_worth_ranking, ranked_lists, summary_by_kind, train_ranker

    if args.with_judgments and not (args.clicks_log or args.clicks_db):
        raise ValueError("--with-judgments trains on judgments and clicks together: give --clicks-log or --clicks-db")
    judgments = load_judgments(args.judgments)
    settings = load_settings(index_root=args.index, ranker_path="")  # a configured ranker is what this replaces
    queries = list(judgments)
    started = time.time()

    def plain(engine):  # relevance, not the merchants' pins and boosts
        return replace(engine, rules=None)

    def keyword_ndcg(engine, texts):  # plain BM25: no ranker, no rules
        return {q: ndcg_at_k([h.product.id for h in engine.search(Query(q, k=DEPTH, mode="keyword")).hits],
                             judgments[q], 10) for q in texts}

    if args.work:  # each fold's own fine-tuned towers and index; the folds are cv's (same queries, same k)
        if args.clicks_log or args.clicks_db or args.with_judgments:
            raise ValueError("--work measures towers and ranker trained on judgments; it takes no --clicks-* "
                             "or --with-judgments")
        check_cv_work(args.work, args.folds, judgments)
        lists_by_fold, keyword = [], {}
        for fold, (_, held_out) in enumerate(k_fold(queries, args.folds), start=1):
            engine = plain(fold_engine(args.work, fold, settings))
            lists_by_fold.append(ranked_lists(engine, judgments, queries))
            keyword.update(keyword_ndcg(engine, held_out))
        folds = cross_validate_per_fold(lists_by_fold, judgments, args.folds)
        lists = [r for fold in folds for r in lists_by_fold[fold.fold - 1] if r.query in set(fold.held_out)]
    else:
        engine = plain(open_engine(settings))
        check_judgments(judgments, engine.index.products, args.judgments)
        lists = ranked_lists(engine, judgments, queries)
        keyword = keyword_ndcg(engine, queries)
        training, source = None, str(args.judgments)
        if args.clicks_log or args.clicks_db:
            training = click_lists(engine, _events(args.clicks_log, args.clicks_db))
            source = args.clicks_log or args.clicks_db
            print(f"{len(training)} logged searches with an outcome in {source}", file=sys.stderr)
            if args.no_position_debias:
                training = [replace(logged, positions=None) for logged in training]
            if args.with_judgments:  # cross_validate keeps each fold's held-out query groups out of both
                training, source = lists + training, f"{args.judgments} and {source}"
        folds = cross_validate(lists, judgments, args.folds, training=training)
    accuracy = engine.vocabulary.get().inference_accuracy
    if accuracy is not None:
        categorized = sum(1 for product in engine.index.products.live_products() if product.category)
        print(f"category inference for products without one: {accuracy:.1%} right on "
              f"{min(categorized, ACCURACY_SAMPLE):,} categorized products left out of their own vote", file=sys.stderr)
    for fold in folds:
        print(f"fold {fold.fold}: {len(fold.held_out)} held-out queries, nDCG@10 fused "
              f"{figure(mean(fold.fused.values()))} -> ranker {figure(mean(fold.ranked.values()))}; ranking only "
              f"{', '.join(fold.kinds) or 'no'} queries (chosen on its training queries) "
              f"{figure(mean(fold.chosen.values()))}", file=sys.stderr)
    kinds = summary_by_kind(folds, lists, keyword)
    fused_name = (f"hybrid-linear:{settings.dense_weight}" if settings.fusion == "linear" else "hybrid-rrf")
    print(f"held-out nDCG@10 over {args.folds} folds by query group ({len(queries)} queries; fused = {fused_name})")
    print(f"{'kind':12} | queries | keyword (BM25) | fused  | ranker, every kind | ranker, kinds chosen in-fold")
    for kind, row in kinds.items():
        cells = [figure(row[k]) for k in ("keyword", "fused", "ranker", "ranker_chosen_kinds")]
        print(f"{kind:12} | {row['queries']:7} | {cells[0]:>14} | {cells[1]} | {cells[2]:>18} | {cells[3]}")
    for name, column in (("every kind", "ranked"), ("kinds chosen in-fold", "chosen")):
        per_fold = [v for v in (mean(getattr(f, column).values()) for f in folds) if v is not None]
        if len(per_fold) > 1:
            print(f"ranker ({name}) per fold: {', '.join(f'{v:.4f}' for v in per_fold)} "
                  f"(sd {statistics.stdev(per_fold):.4f})")
    judged = judged_summary(folds, judgments)
    print(f"the same held-out lists with unjudged products left out, nDCG@10: fused "
          f"{figure(judged['judged_ndcg@10']['fused'])} -> ranker {figure(judged['judged_ndcg@10']['ranker'])}; "
          f"judged share of the top 10: {figure(judged['judged@10']['fused'])} -> "
          f"{figure(judged['judged@10']['ranker'])} (a gain there is the ranker finding what was judged; "
          f"docs/relevance.md)")
    ranked_kinds = kinds_worth_ranking({r.query: r.kind for r in lists},
                                       {q: v for f in folds for q, v in f.fused.items()},
                                       {q: v for f in folds for q, v in f.ranked.items()})
    if args.json:
        Path(args.json).write_text(json.dumps({"kinds": kinds, "ranked_kinds": ranked_kinds, "judged": judged, "folds": [
            {"fold": f.fold, "held_out": f.held_out, "fused": f.fused, "ranker": f.ranked, "chosen": f.chosen,
             "kinds": f.kinds} for f in folds]}, indent=2))
    if args.cv_only or args.work:
        return 0
    model = train_ranker(lists if training is None else training, {
        "index_version": engine.index.version, "trained_on": source, "measured_on": str(args.judgments),
        "fusion": settings.fusion, "dense_weight": settings.dense_weight,
        "ranked_depth": settings.engine_config().ranked_depth,
        "cross_validation": kinds, "seconds": round(time.time() - started, 1)}, ranked_kinds=ranked_kinds)
    folder = model.save(args.output)
    print(f"saved {folder}: it ranks {', '.join(ranked_kinds) or 'no'} queries (those where it beat or matched the "
          f"fused order held-out; the rest keep the fused order); serve it with ranker_path = \"{args.output}\" "
          f"in the settings file or SEARCH_RANKER_PATH={args.output}"
          + ("" if ranked_kinds else "\nnote: it ranks nothing; serving without it is the same and cheaper"))
    return 0


def cv_table(folds: list[dict]) -> str:
    lines = ["configuration     | tower      | nDCG@10 mean (sd)  | Recall@100 mean (sd)",
             "------------------+------------+--------------------+---------------------"]
    for name in CONFIGS:
        for tower in ("zero_shot", "fine_tuned"):
            cells = []
            for metric in ("ndcg@10", "recall@100"):
                values = [f[tower][name][metric] for f in folds]
                spread = statistics.stdev(values) if len(values) > 1 else 0.0
                cells.append(f"{statistics.mean(values):.4f} ({spread:.4f})")
            lines.append(f"{name:17} | {tower:10} | {cells[0]:18} | {cells[1]}")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    try:
        return {"train": run_train, "cv": run_cv, "fusion": run_fusion, "keyword": run_keyword,
                "ranker": run_ranker, "matching": run_matching}[args.command](args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"search-train {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
