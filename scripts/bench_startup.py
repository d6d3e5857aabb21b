"""Process start to first answered search, and resident memory per worker, of a real server.

Starts `search-serve` (scripts/serve.py) with the given Python (a serving install without
torch, or the full one) over an index, asks GET /search until one answers 200, then reads the
resident memory of the gunicorn workers from /proc (Linux). Compare installs in one run: the
machine's noise moves single figures.

Example (the figures in docs/benchmarks.md, "Serving without torch"):
  search-bench-startup --index var/index --python .venv/bin/python --python /tmp/lean/.venv/bin/python
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.common import emit, setup_logging


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="search-bench-startup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="var/index")
    parser.add_argument("--python", action="append", dest="pythons", metavar="PATH",
                        help="a Python whose install serves (repeatable; default: this one)")
    parser.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="starts per install (default 2)")
    parser.add_argument("--json", help="also write the figures here")
    return parser.parse_args(argv)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def start_once(python: str, index: str, workers: int, port: int) -> dict:
    """Seconds from spawning the server to its first 200 on /search, and each worker's RSS."""
    import requests

    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "SEARCH_EVENTS_PATH": f"{state}/events.sqlite3",
               "SEARCH_MERCHANDISING_PATH": f"{state}/merchandising.sqlite3",
               "SEARCH_JUDGMENTS_PATH": f"{state}/judgments.sqlite3"}
        started = time.perf_counter()
        server = subprocess.Popen([python, "-m", "scripts.serve", "--index", index, "--port", str(port),
                                   "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"{python}: the server exited while starting (run search-serve by hand)")
                if time.perf_counter() - started > 300:
                    raise RuntimeError(f"{python}: no answer within 300 s")
                try:
                    if requests.get(f"http://127.0.0.1:{port}/search", params={"q": "wireless mouse"},
                                    timeout=30).status_code == 200:
                        break
                except requests.RequestException:
                    time.sleep(0.1)
            first_search_s = time.perf_counter() - started
            time.sleep(2)  # every worker has loaded (they load before taking traffic)
            rss = sorted(_rss_mb(pid) for pid in _children(server.pid))
            torch_loaded = subprocess.run([python, "-c", "import torch"], capture_output=True).returncode == 0
            return {"first_search_s": round(first_search_s, 2), "worker_rss_mb": rss, "torch_installed": torch_loaded}
        finally:
            server.terminate()
            server.wait(timeout=30)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging()
    from scripts.bench_search import free_port

    pythons = args.pythons or [sys.executable]
    figures: dict = {"index": args.index, "workers": args.workers, "installs": {}}
    for python in pythons:
        figures["installs"][python] = [start_once(python, args.index, args.workers, free_port())
                                       for _ in range(args.rounds)]
    emit(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
