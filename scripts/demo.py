"""The demo: index the bundled Icecat catalog (reusing an up-to-date index) and serve it.

The first run encodes all 19,406 products with MiniLM (a few minutes on 2 CPU cores, with a
progress bar); later runs reuse the index when the catalog and model are unchanged.
"""
from __future__ import annotations

import argparse
import os
import secrets
import sys

from scripts.common import ICECAT_DIR, setup_logging

DEMO_INDEX = "var/demo-index"


def index_is_current(root: str, products, encoder) -> bool:
    from indexer.build import catalog_checksum
    from indexer.versions import NoIndexError, current_dir, read_manifest

    try:
        manifest = read_manifest(current_dir(root))
    except (NoIndexError, FileNotFoundError):
        return False
    return (manifest["catalog_checksum"] == catalog_checksum(products)
            and manifest["encoder"]["fingerprint"] == encoder.fingerprint)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="search-demo", description=__doc__)
    parser.add_argument("--index", default=DEMO_INDEX, help=f"index root (default: {DEMO_INDEX})")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--limit", type=int, help="index only the first N products (a quicker demo)")
    parser.add_argument("--no-serve", action="store_true", help="build the index and exit")
    args = parser.parse_args(argv)
    setup_logging()
    from api import create_app
    from encoders.exported_tower import exports_folder
    from encoders.towers import Towers
    from indexer.build import build_version
    from indexer.icecat import load_icecat
    from scripts.serve import print_url, serve
    from search_engine.settings import load_settings

    products = load_icecat(ICECAT_DIR).products[: args.limit]
    settings = load_settings(index_root=args.index)
    towers = Towers.load(backend=settings.encoder_backend, exports=[exports_folder(args.index)])
    if index_is_current(args.index, products, towers.product):
        print(f"reusing the index in {args.index}", file=sys.stderr)
    else:
        print(f"indexing {len(products)} Icecat products into {args.index}...", file=sys.stderr)
        build_version(products, towers.product, args.index, embedding_cache="var/embedding-cache",
                      show_progress=True)
    towers.export(exports_folder(args.index))  # both towers, for a server without torch
    if args.no_serve:
        return 0
    # The workbench needs an admin token: the demo makes one up unless SEARCH_ADMIN_TOKEN sets it.
    token = os.environ.get("SEARCH_ADMIN_TOKEN") or secrets.token_urlsafe(12)
    settings = load_settings(index_root=args.index, admin_token=token)
    print_url(args.host, args.port, settings.admin_token, show_token=True)
    # The worker loads its own model after gunicorn forks it: torch's threads do not survive a fork.
    serve(lambda: create_app({"SETTINGS": settings}), args.host, args.port, workers=1, threads=4)
    return 0


if __name__ == "__main__":
    sys.exit(main())
