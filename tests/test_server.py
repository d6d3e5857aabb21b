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
def events_path(tmp_path):
    return tmp_path / "events.sqlite3"


@pytest.fixture
def server_process(slice_index_root, towers, events_path):
    """(base URL, the gunicorn process, started in its own process group)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.serve", "--index", str(slice_index_root), "--port", str(port)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "SEARCH_EVENTS_PATH": str(events_path),
             "SEARCH_MERCHANDISING_PATH": str(events_path.parent / "merchandising.sqlite3"),
             "SEARCH_JUDGMENTS_PATH": str(events_path.parent / "judgments.sqlite3")},
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
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def server(server_process):
    return server_process[0]


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


def test_acknowledged_events_survive_kill_9_right_after_the_response(server_process, events_path, slice_products):
    import signal

    from search_engine.event_store import EventStore

    base, process = server_process
    product = slice_products[0].id
    acknowledged = 0
    for batch in range(5):
        events = [{"user_id": f"u{batch}", "session_id": f"s{batch}", "timestamp": 1788220800 + i,
                   "type": "click", "product_id": product, "query": "hdmi cable", "position": 1}
                  for i in range(20)]
        response = requests.post(f"{base}/events", json={"events": events}, timeout=30)
        assert response.status_code == 201, response.text
        acknowledged += response.json()["stored"]
    os.killpg(process.pid, signal.SIGKILL)  # master and workers, no chance to flush anything
    process.wait(timeout=30)
    assert EventStore(events_path).count() == acknowledged == 100
