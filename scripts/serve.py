"""Serve the search API with gunicorn (the model is loaded once per worker, before traffic).

Settings come from --config FILE (TOML), SEARCH_* environment variables and these flags.
Example:
  search-serve --index var/index --port 8000
"""
from __future__ import annotations

import argparse
import os
import sys

from scripts.common import setup_logging


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="search-serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", help="index root folder (default: settings, else var/index)")
    parser.add_argument("--config", help="TOML settings file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1,
                        help="processes, each with its own model copy (default 1: on 2 cores one "
                             "worker with threads keeps latency lowest)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def _forget_worker_metrics(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def serve(make_app, host: str, port: int, workers: int, threads: int) -> None:
    """Run gunicorn; each worker builds its own app (and model) after the fork, since torch's
    thread pools do not survive a fork. With several workers, /metrics sums them all through
    a fresh prometheus_client multiprocess folder (api/metrics.py)."""
    from gunicorn.app.base import BaseApplication

    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="search-metrics-")

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "api.server_workers.JsonErrorsThreadWorker" if threads > 1
                         else "api.server_workers.JsonErrorsSyncWorker")
            self.cfg.set("timeout", 120)
            # gunicorn's longest request line (its default, 4094 bytes, answers a 500-character
            # query in another script with its own HTML 414 before the API can say anything):
            # 500 characters of up to 4 UTF-8 bytes, percent-encoded, are 6,000 bytes.
            self.cfg.set("limit_request_line", 8190)
            if workers > 1:
                self.cfg.set("child_exit", _forget_worker_metrics)

        def load(self):
            return make_app()

    Server().run()


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    from api import create_app
    from indexer.versions import NoIndexError, current_version
    from search_engine.settings import load_settings

    try:
        settings = load_settings(args.config, index_root=args.index)
        current_version(settings.index_root)  # fail here, not in every worker
    except (NoIndexError, ValueError, OSError) as exc:
        print(f"search-serve: {exc}", file=sys.stderr)
        return 2
    print_url(args.host, args.port, settings.admin_token)
    serve(lambda: create_app({"SETTINGS": settings}), args.host, args.port, args.workers, args.threads)
    return 0


def print_url(host: str, port: int, admin_token: str | None = None, show_token: bool = False) -> None:
    base = f"http://{host}:{port}"
    print(f"search API at {base}/  (try {base}/search?q=wireless+mouse&explain=true, {base}/health)",
          flush=True)
    if admin_token:
        login = f"log in with the admin token: {admin_token}" if show_token else "log in with the admin token"
        print(f"relevance workbench at {base}/workbench  ({login})", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
