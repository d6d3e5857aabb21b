"""Build a new index version from a catalog and make it the serving one.

Examples:
  search-index --index var/index                       # the bundled Icecat catalog
  search-index --catalog products.jsonl --index var/index
  search-index --catalog products.csv --vector-index hnsw --hnsw-m 32 --index var/index
"""
from __future__ import annotations

import argparse
import sys
import time

from scripts.common import add_catalog_arguments, load_products, setup_logging


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="search-index", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_catalog_arguments(parser)
    parser.add_argument("--index", default="var/index", help="index root folder (default: var/index)")
    parser.add_argument("--model", default=None,
                        help="product tower: a sentence-transformers name or path (default: packaged all-MiniLM-L6-v2)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--embedding-cache", default="var/embedding-cache",
                        help="reuse product vectors across builds (default: var/embedding-cache; '' to disable)")
    vector = parser.add_argument_group("vector index")
    vector.add_argument("--vector-index", choices=("flat", "hnsw", "ivfpq"), default="flat")
    vector.add_argument("--hnsw-m", type=int, default=32)
    vector.add_argument("--hnsw-ef-construction", type=int, default=200)
    vector.add_argument("--hnsw-ef-search", type=int, default=128)
    vector.add_argument("--ivf-nlist", type=int, default=0, help="0: about 4*sqrt(n)")
    vector.add_argument("--ivf-nprobe", type=int, default=32)
    vector.add_argument("--pq-m", type=int, default=48)
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    from encoders.towers import TextEncoder
    from indexer.build import IndexConfig, build_version
    from indexer.validation import CatalogValidationError
    from indexer.vectors import VectorIndexConfig

    started = time.perf_counter()
    try:
        products = load_products(args.catalog, args.icecat, args.skip_invalid, args.limit)
        vector_config = VectorIndexConfig(
            kind=args.vector_index, hnsw_m=args.hnsw_m, hnsw_ef_construction=args.hnsw_ef_construction,
            hnsw_ef_search=args.hnsw_ef_search, ivf_nlist=args.ivf_nlist, ivf_nprobe=args.ivf_nprobe,
            pq_m=args.pq_m)
    except (CatalogValidationError, ValueError, FileNotFoundError) as exc:
        print(f"search-index: {exc}", file=sys.stderr)
        return 2
    print(f"loaded {len(products)} products; encoding with the product tower...", file=sys.stderr)
    encoder = TextEncoder(args.model, device=args.device)
    version_dir = build_version(products, encoder, args.index, IndexConfig(vector=vector_config),
                                embedding_cache=args.embedding_cache or None, show_progress=True)
    print(f"built {version_dir.name} with {len(products)} products in "
          f"{time.perf_counter() - started:.1f}s; now serving from {args.index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
