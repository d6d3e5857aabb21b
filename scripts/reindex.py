"""Reindex the catalog: full rebuilds, incremental updates, rollback, status and dry runs.

Every full build writes a new index version beside the serving one and switches to it only
when it is complete and verified; a running API picks it up without a restart. Killing a
build at any point leaves the serving version as it was, and the next build cleans up.

Commands:
  full         build a new version from a catalog file and switch to it
  incremental  upsert products from a catalog file and/or delete ids, in the serving version
  rollback     switch back to the previous version (or --to VERSION); --updates drop|carry
               says what to do with incremental updates made since (refused otherwise)
  status       the serving version, the versions on disk and leftovers of interrupted builds
  validate     dry run: the catalog's validation report and what a full build would change

Examples:
  search-reindex full --catalog products.jsonl --index var/index
  search-reindex full --index var/index                  (the bundled Icecat catalog)
  search-reindex incremental --upsert changed.jsonl --delete-ids gone.txt --index var/index
  search-reindex validate --catalog products.csv --index var/index
  search-reindex rollback --index var/index --updates carry

Exit codes: 0 done, 1 the operation failed (nothing was switched), 2 bad input.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from encoders.towers import BACKENDS as ENCODER_BACKENDS
from indexer.keyword import KeywordConfig
from indexer.keyword.base import SCORINGS, parse_field_weights
from indexer.keyword.factory import BACKENDS as KEYWORD_BACKENDS
from indexer.switching import UPDATE_POLICIES
from indexer.vectors import VectorIndexConfig
from indexer.vectors.faiss_index import ALL_KINDS, AUTO
from indexer.versions import DEFAULT_KEEP
from scripts.common import add_catalog_arguments, load_report, read_catalog, setup_logging
from search_engine.settings import Settings

DEFAULTS = Settings()
VECTOR_DEFAULTS = VectorIndexConfig()


def parse_args(argv=None):
    args = _parser().parse_args(argv)
    from search_engine.settings import load_settings

    settings = load_settings(args.config, index_root=args.index)  # flags win over the file and SEARCH_*
    args.index = settings.index_root
    args.settings = settings
    return args


def _parser():
    parser = argparse.ArgumentParser(prog="search-reindex", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--config", help="TOML settings file (Elasticsearch connection); SEARCH_* "
                                         "environment variables work too")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help_text):
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--index", default=None,
                         help=f"index root folder (default: the index_root setting, {DEFAULTS.index_root})")
        return sub

    full = command("full", "build a new version from a catalog file and switch to it (or stage it: --no-switch)")
    add_catalog_arguments(full)
    full.add_argument("--no-switch", action="store_true",
                      help="stage the new version beside the serving one instead of serving it (compare the two "
                           "in the workbench, then `switch VERSION`)")
    full.add_argument("--model", default=None,
                      help=f"product tower: a sentence-transformers name or path (default: the product_model, "
                           f"else model setting, {DEFAULTS.model})")
    full.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    full.add_argument("--encoder-backend", choices=ENCODER_BACKENDS, default=None,
                      help=f"how the product tower runs on a CPU (default: the encoder_backend setting, "
                           f"{DEFAULTS.encoder_backend}, as serving uses): torch, onnx (ONNX Runtime, same vectors "
                           "as torch) or onnx-int8 (quantized: faster, vectors differ slightly)")
    full.add_argument("--embedding-cache", default="var/embedding-cache",
                      help="reuse product vectors across builds (default: var/embedding-cache; '' to disable)")
    full.add_argument("--keyword-backend", choices=KEYWORD_BACKENDS, default=None,
                      help=f"elasticsearch needs SEARCH_ELASTICSEARCH_URL (or --config) (default: the serving "
                           f"version's, else {KeywordConfig.backend})")
    full.add_argument("--keyword-scoring", choices=SCORINGS, default=None,
                      help=f"term-centric (BM25F over the fields as one document, weighted by --field-weights) or "
                           f"field-centric (per-field BM25 times the boosts, summed) (default: the serving "
                           f"version's, else {KeywordConfig.scoring})")
    full.add_argument("--field-weights", default=None, metavar="FIELD=N,...",
                      help="term-centric weights, whole numbers; fields not named keep the serving version's "
                           "weights (else 1), 0 leaves a field out (fit them on your judgments: search-train keyword)")
    full.add_argument("--attribute-max-chars", type=int, default=None, metavar="N",
                      help=f"leave attribute values longer than N characters out of the keyword text; 0 keeps "
                           f"them all (default: the serving version's, else {KeywordConfig.attribute_max_chars}; "
                           "fit it on your judgments: search-train keyword)")
    full.add_argument("--fold-accents", action=argparse.BooleanOptionalAction, default=None,
                      help="match words with and without accents alike (\"creme\" finds \"Crème\") (default: the "
                           f"serving version's choice, else {'on' if KeywordConfig.fold_accents else 'off'}; "
                           "check it on your judgments: search-train keyword)")
    add_attribute_arguments(full)
    full.add_argument("--keep", type=int, default=DEFAULT_KEEP,
                      help=f"versions kept on disk, the serving one included (default {DEFAULT_KEEP})")
    vector = full.add_argument_group("vector index (defaults: indexer.vectors.VectorIndexConfig)")
    vector.add_argument("--vector-index", choices=(AUTO,) + ALL_KINDS, default=VECTOR_DEFAULTS.kind,
                        help="auto (default): exact flat for small catalogs, hnsw for large ones "
                             "(indexer.vectors.faiss_index.default_kind); "
                             "elasticsearch: keep the vectors in the Elasticsearch index (kNN), not FAISS")
    vector.add_argument("--hnsw-m", type=int, default=VECTOR_DEFAULTS.hnsw_m)
    vector.add_argument("--hnsw-ef-construction", type=int, default=VECTOR_DEFAULTS.hnsw_ef_construction)
    vector.add_argument("--hnsw-ef-search", type=int, default=VECTOR_DEFAULTS.hnsw_ef_search)
    vector.add_argument("--ivf-nlist", type=int, default=VECTOR_DEFAULTS.ivf_nlist, help="0: about 4*sqrt(n)")
    vector.add_argument("--ivf-nprobe", type=int, default=VECTOR_DEFAULTS.ivf_nprobe)
    vector.add_argument("--pq-m", type=int, default=VECTOR_DEFAULTS.pq_m)

    incremental = command("incremental", "upsert products and/or delete ids in the serving version")
    incremental.add_argument("--upsert", metavar="FILE", help="catalog file (.jsonl/.csv/.tsv/.parquet) of products to add or replace")
    incremental.add_argument("--delete-ids", metavar="FILE", help="text file with one product id per line to delete")
    incremental.add_argument("--skip-invalid", action="store_true", help="skip invalid rows of --upsert instead of failing")
    incremental.add_argument("--model", default=None,
                             help="product tower (default: the one the serving version was built with)")

    rollback = command("rollback", "switch back to the previous version")
    rollback.add_argument("--to", metavar="VERSION", help="a specific version (see status)")
    rollback.add_argument("--updates", choices=UPDATE_POLICIES, default="refuse",
                          help="incremental updates made since the older version last served: refuse (default: "
                               "say which, change nothing), drop them, or carry them over")

    switch = command("switch", "serve a version on disk (e.g. one staged with full --no-switch)")
    switch.add_argument("version", metavar="VERSION", help="the version to serve (see status)")
    switch.add_argument("--updates", choices=UPDATE_POLICIES, default="refuse",
                        help="incremental updates VERSION lacks (made since it last served; a staged version "
                             "always takes them): refuse (default), drop or carry")

    command("status", "show the serving version and the versions on disk")

    validate = command("validate", "dry run: validation report and what a full build would change")
    add_catalog_arguments(validate)
    add_attribute_arguments(validate)
    return parser


def add_attribute_arguments(command) -> None:
    """full builds with these, validate checks the catalog against them as full would."""
    command.add_argument("--facet-attributes", default=None, metavar="NAME,...",
                         help="attributes shoppers can filter by value and see counted as facets (default: the "
                              "serving version's; for the bundled Icecat catalog a default list; otherwise none)")
    command.add_argument("--numeric-attributes", default=None, metavar="NAME,...",
                         help="attributes with number values that shoppers can filter by range and sort by "
                              "(default: as --facet-attributes); '' for none")


def elasticsearch_connection(args):
    return args.settings.elasticsearch_config()


def keyword_settings(args):
    """The serving version's keyword settings (a rebuild keeps what a shop chose and fitted),
    with the flags given on top; the defaults when nothing serves yet."""
    from dataclasses import replace

    from indexer import versions
    from indexer.keyword.factory import keyword_config

    serving = versions.serving_dir(args.index)
    manifest = versions.read_manifest(serving) if serving else {}
    config = keyword_config(manifest) if serving else KeywordConfig()
    # A version built before accents were folded made no choice against folding.
    chosen_fold = manifest.get("keyword", {}).get("fold_accents", KeywordConfig.fold_accents)
    config = replace(config, backend=args.keyword_backend or config.backend,
                     scoring=args.keyword_scoring or config.scoring,
                     attribute_max_chars=config.attribute_max_chars if args.attribute_max_chars is None
                     else args.attribute_max_chars,
                     fold_accents=chosen_fold if args.fold_accents is None else args.fold_accents)
    if args.field_weights is not None:
        if config.scoring != "term-centric":
            raise ValueError("--field-weights: field weights are for term-centric scoring "
                             "(field-centric scoring uses boosts)")
        config = replace(config, field_weights=parse_field_weights(args.field_weights, config.field_weights))
    return config


def attribute_settings(args):
    """--facet-attributes / --numeric-attributes, else the serving version's choice, else the
    bundled Icecat catalog's default list (when that is what is indexed), else none."""
    from indexer import versions
    from indexer.attributes import AttributeConfig
    from indexer.icecat import ICECAT_ATTRIBUTES

    serving = versions.serving_dir(args.index)
    manifest = versions.read_manifest(serving) if serving else {}
    if "attributes" in manifest:  # versions built before attributes were configurable record none
        default = AttributeConfig.from_manifest(manifest)
    else:
        default = AttributeConfig() if args.catalog else ICECAT_ATTRIBUTES
    return AttributeConfig(
        facets=default.facets if args.facet_attributes is None else AttributeConfig.parse(args.facet_attributes, "").facets,
        numeric=default.numeric if args.numeric_attributes is None else AttributeConfig.parse("", args.numeric_attributes).numeric)


def run_full(args) -> int:
    from encoders.exported_tower import exports_folder
    from encoders.towers import load_tower
    from indexer.attributes import check_attributes
    from indexer.build import IndexConfig, build_version
    from indexer.vectors import VectorIndexConfig

    started = time.perf_counter()
    report = read_catalog(args.catalog, args.icecat, args.skip_invalid, args.limit)
    products = report.products
    attributes = attribute_settings(args)
    check_attributes(products, attributes, rows=report.rows)  # before encoding, naming the file's rows
    vector_config = VectorIndexConfig(
        kind=args.vector_index, hnsw_m=args.hnsw_m, hnsw_ef_construction=args.hnsw_ef_construction,
        hnsw_ef_search=args.hnsw_ef_search, ivf_nlist=args.ivf_nlist, ivf_nprobe=args.ivf_nprobe, pq_m=args.pq_m)
    print(f"loaded {len(products)} products; encoding with the product tower...", file=sys.stderr)
    settings = args.settings
    encoder = load_tower(args.model or settings.product_model or settings.model,
                         args.encoder_backend or settings.encoder_backend, device=args.device or settings.device,
                         exports=[exports_folder(args.index)])
    config = IndexConfig(vector=vector_config, keyword=keyword_settings(args), attributes=attributes)
    from indexer.versions import NoIndexError, current_version

    try:
        was_serving = current_version(args.index)
    except NoIndexError:
        was_serving = None
    if encoder.asymmetric:  # a server without torch needs the query route's export too
        load_tower(encoder.source, encoder.backend, "query", device=args.device or settings.device,
                   exports=[exports_folder(args.index)]).export(exports_folder(args.index))
    version_dir = build_version(products, encoder, Path(args.index), config,
                                embedding_cache=args.embedding_cache or None, show_progress=True, keep=args.keep,
                                elasticsearch=elasticsearch_connection(args), serve=not args.no_switch)
    from indexer.versions import read_manifest

    manifest = read_manifest(version_dir)
    carried = manifest.get("carried_updates", {}).get("products", 0)
    print(f"built {version_dir.name}: {len(products)} products in {time.perf_counter() - started:.1f}s "
          f"({', '.join(f'{k[:-2]} {v:.1f}s' for k, v in manifest['build_timings'].items())}); "
          f"vectors {manifest['vector_index']['kind']}; " + (
              f"staged beside the serving version (serve it with: search-reindex switch {version_dir.name} "
              f"--index {args.index})" if args.no_switch and was_serving else
              f"carried over {carried} incremental updates; now serving"))
    return 0


def read_ids(path: str) -> list[str]:
    lines = Path(path).read_text(encoding="utf-8-sig").splitlines()  # a byte-order mark is no part of the first id
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def run_incremental(args) -> int:
    from encoders.exported_tower import exports_folder
    from encoders.towers import encoder_source, load_tower
    from indexer import versions
    from indexer.attributes import AttributeConfig, check_attributes
    from indexer.incremental import apply_updates_to_current

    if not args.upsert and not args.delete_ids:
        raise ValueError("give --upsert FILE and/or --delete-ids FILE")
    manifest = versions.read_manifest(versions.current_dir(args.index))
    upserts = []
    if args.upsert:
        report = read_catalog(args.upsert, None, args.skip_invalid)
        upserts = report.products
        # Before encoding, naming the file's rows (the update checks again under its lock).
        check_attributes(upserts, AttributeConfig.from_manifest(manifest), whole_catalog=False, rows=report.rows)
    deletes = read_ids(args.delete_ids) if args.delete_ids else []
    exports = [exports_folder(args.index)]
    if args.model:
        encoder = load_tower(args.model, args.settings.encoder_backend, exports=exports)
    else:  # the tower (and backend) the serving version was built with: its vectors must match
        built_with = manifest["encoder"]
        encoder = load_tower(encoder_source(built_with), built_with.get("backend", "torch"), exports=exports)
    summary = apply_updates_to_current(Path(args.index), encoder, upserts, deletes,
                                       elasticsearch=elasticsearch_connection(args))
    print(f"{summary.version}: {len(summary.added)} added, {len(summary.updated)} updated, "
          f"{len(summary.deleted)} deleted" + (f", {len(summary.not_found)} ids to delete not found: "
                                               f"{', '.join(summary.not_found[:20])}" if summary.not_found else ""))
    return 0


def run_rollback(args) -> int:
    from indexer.switching import rollback

    result = rollback(Path(args.index), args.to, args.updates, elasticsearch_connection(args))
    print(f"rolled back from {result.from_version} to {result.to_version} ({result.describe()}); "
          f"now serving {result.to_version}")
    return 0


def run_switch(args) -> int:
    from encoders.towers import encoder_source
    from indexer import versions
    from indexer.switching import switch_to_version

    before = versions.current_version(args.index)
    serving = versions.read_manifest(versions.version_dir(args.index, before))
    result = switch_to_version(Path(args.index), args.version, elasticsearch_connection(args), args.updates)
    manifest = versions.read_manifest(versions.version_dir(args.index, args.version))
    print(f"switched from {before} to {args.version} ({result.describe()}); now serving {args.version}")
    if manifest["encoder"]["fingerprint"] != serving["encoder"]["fingerprint"]:
        print(f"{args.version} was built with another product tower ({manifest['encoder']['model']}): running "
              f"servers keep serving {before} until restarted with that model "
              f"(SEARCH_MODEL={encoder_source(manifest['encoder'])})", file=sys.stderr)
    return 0


def run_status(args) -> int:
    from indexer import update_log, versions

    current = versions.current_version(args.index)
    served = versions.served_versions(args.index)
    print(f"index root: {args.index}")
    for version in versions.list_versions(args.index):
        directory = versions.version_dir(args.index, version)
        manifest = versions.read_manifest(directory)
        staged = "staged_from" in manifest and served is not None and version not in served
        marker = "*" if version == current else "+" if staged else " "
        print(f"{marker} {version}  created {manifest['created']}  {manifest['product_count']} products  "
              f"{update_log.last_seq(directory)} incremental changes  model {manifest['encoder']['model']} "
              f"({manifest['encoder']['fingerprint']})  vectors {manifest['vector_index']['kind']}")
    leftovers = versions.abandoned_builds(args.index)
    if leftovers:
        print(f"leftovers of interrupted builds (removed by the next full build): {', '.join(p.name for p in leftovers)}")
    print("* serving   + staged, never served (search-reindex switch VERSION)")
    return 0


def catalog_diff(old_products, new_products) -> dict[str, list[str]]:
    old = {p.id: p.to_dict() for p in old_products}
    new = {p.id: p.to_dict() for p in new_products}
    return {
        "added": sorted(new.keys() - old.keys()),
        "updated": sorted(pid for pid in new.keys() & old.keys() if new[pid] != old[pid]),
        "removed": sorted(old.keys() - new.keys()),
    }


def run_validate(args) -> int:
    from indexer import versions
    from indexer.attributes import attribute_problems
    from indexer.search_index import SearchIndex

    report = load_report(args.catalog, args.icecat, skip_invalid=True).limited(args.limit)  # every row; fail below
    products = report.products
    print(report.summary())
    try:
        serving = SearchIndex.open_current(args.index, use_gpu=False,
                                           elasticsearch=elasticsearch_connection(args)).products.live_products()
    except versions.NoIndexError:
        serving = []
        print(f"no serving index at {args.index}: every product would be added")
    diff = catalog_diff(serving, products)
    print(json.dumps({k: len(v) for k, v in diff.items()}))
    for change, ids in diff.items():
        if ids:
            print(f"{change}: {', '.join(ids[:20])}{' ...' if len(ids) > 20 else ''}")
    failing = False
    if report.errors and not args.skip_invalid:
        print("the catalog has invalid rows: a full build would fail (or skip them with --skip-invalid)",
              file=sys.stderr)
        failing = True
    problems = attribute_problems(products, attribute_settings(args), rows=report.rows)
    if problems:
        print("the catalog does not fit the attribute settings: a full build would fail\n  "
              + "\n  ".join(problems), file=sys.stderr)
        failing = True
    return 2 if failing else 0


COMMANDS = {"full": run_full, "incremental": run_incremental, "rollback": run_rollback, "switch": run_switch,
            "status": run_status, "validate": run_validate}


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    from indexer.switching import StaleStagedVersionError, UpdatesWouldBeLostError
    from indexer.versions import BuildInProgressError
    from indexer.incremental import EncoderMismatchError
    from indexer.keyword.elasticsearch_index import ElasticsearchError
    from indexer.validation import CatalogValidationError
    from indexer.verify import VerificationError
    from indexer.versions import NoIndexError

    try:
        return COMMANDS[args.command](args)
    except (CatalogValidationError, NoIndexError, EncoderMismatchError, ValueError, FileNotFoundError) as exc:
        print(f"search-reindex {args.command}: {exc}", file=sys.stderr)
        return 2
    except (BuildInProgressError, VerificationError, ElasticsearchError, StaleStagedVersionError,
            UpdatesWouldBeLostError) as exc:
        print(f"search-reindex {args.command}: {exc}; the serving version is unchanged", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
