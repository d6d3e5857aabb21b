"""One test against a real server process: gunicorn, a real socket, the real index."""
import os
import socket
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(slice_index_root, towers):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.serve", "--index", str(slice_index_root), "--port", str(port)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"server exited early:\n{process.stdout.read()}")
            try:
                if requests.get(f"{base}/health", timeout=10).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or the worker still loading
                time.sleep(0.5)
        else:
            pytest.fail("server did not answer /health within 120 s")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_real_server_answers_searches_and_errors(server):
    response = requests.get(f"{server}/search", params={"q": "hdmi cable", "k": 5, "explain": "true"}, timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert len(body["results"]) == 5 and "explain" in body["results"][0]
    bad = requests.get(f"{server}/search", params={"q": "x", "mode": "nope"}, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["parameter"] == "mode"


def test_serve_without_an_index_says_how_to_build_one(tmp_path):
    result = subprocess.run([sys.executable, "-m", "scripts.serve", "--index", str(tmp_path / "none")],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "no index at" in result.stderr and "search-reindex full" in result.stderr
