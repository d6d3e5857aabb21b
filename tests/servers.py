"""Real server processes for the tests: gunicorn through `search-serve`, on a free loopback port."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def store_settings(folder: Path) -> dict[str, str]:
    """SEARCH_* variables putting the server's SQLite stores in a folder of the test's own."""
    return {"SEARCH_EVENTS_PATH": str(folder / "events.sqlite3"),
            "SEARCH_MERCHANDISING_PATH": str(folder / "merchandising.sqlite3"),
            "SEARCH_JUDGMENTS_PATH": str(folder / "judgments.sqlite3")}


@contextmanager
def running_server(index_root: Path, env: dict[str, str], threads: int = 4, workers: int = 1,
                   start_timeout_s: float = 120):
    """(base URL, process) of a server over index_root, started in its own process group and
    stopped (terminated, or already killed by the test) when the block ends."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.serve", "--index", str(index_root), "--port", str(port),
         "--threads", str(threads), "--workers", str(workers)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{process.stdout.read()}")
            try:
                if requests.get(f"{base}/health", timeout=10).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or the worker still loading
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not answer /health within {start_timeout_s} s")
            time.sleep(0.3)
        yield base, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
