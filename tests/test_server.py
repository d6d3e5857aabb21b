"""One test against a real server process: gunicorn, a real socket, the real index."""
import os
import subprocess
import sys

import pytest
import requests

from tests.conftest import REPO_ROOT
from tests.servers import running_server, store_settings

pytestmark = pytest.mark.slow


@pytest.fixture
def events_path(tmp_path):
    return tmp_path / "events.sqlite3"


@pytest.fixture
def server_process(slice_index_root, events_path):
    """(base URL, the gunicorn process, started in its own process group)."""
    with running_server(slice_index_root, store_settings(events_path.parent)) as started:
        yield started


@pytest.fixture
def server(server_process):
    return server_process[0]


def test_real_server_answers_searches_and_errors(server):
    response = requests.get(f"{server}/search", params={"q": "hdmi cable", "k": 5, "explain": "true"}, timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert len(body["results"]) == 5 and "explain" in body["results"][0]
    # The longest query the API takes, in a script of 3 UTF-8 bytes a letter: gunicorn lets it through.
    longest = requests.get(f"{server}/search", params={"q": "ノートパソコン" * 71 + "ノート", "k": 1}, timeout=30)
    assert longest.status_code == 200 and longest.headers["Content-Type"] == "application/json"
    bad = requests.get(f"{server}/search", params={"q": "x", "mode": "nope"}, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["parameter"] == "mode"
    # Past gunicorn's own limits the answer is still the API's JSON error, naming what was too big.
    too_long = requests.get(f"{server}/search", params={"q": "x" * 9000}, timeout=30)
    assert too_long.status_code == 414 and too_long.json()["error"]["parameter"] == "url"
    too_many = requests.get(f"{server}/search", params={"q": "x"}, headers={f"X-H{i}": "1" for i in range(200)},
                            timeout=30)
    assert too_many.status_code == 431 and too_many.json()["error"]["parameter"] == "headers"
    assert requests.get(f"{server}/health", timeout=30).status_code == 200  # and the server serves on


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
