"""Shared fixtures. The real model and a real index over a small Icecat slice are built once
per test run (encoding the whole catalog takes minutes on CI's 2 cores)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
ICECAT_DIR = REPO_ROOT / "data" / "icecat"
JUDGMENTS_CSV = ICECAT_DIR / "Broad_Query_Set_rated.csv"
# Real judged queries whose judged products go into the slice: descriptive queries, a
# brand+type query, and a model-code query.
SLICE_QUERIES = ("wireless mouse", "hdmi cable", "backpack", "aa battery", "usb hub",
                 "chromebook", "brother tn-2110 toner")
SLICE_FILLER = 300
T = 1788220800.0  # 2026-09-01T00:00:00Z: when the hand-written shoppers shop  # unjudged products, so the judged ones must be found among distractors


@pytest.fixture(scope="session")
def icecat_products():
    from indexer.icecat import load_icecat

    return load_icecat(ICECAT_DIR).products


@pytest.fixture(scope="session")
def judgments():
    from search_engine.judgments import load_judgments

    return load_judgments(JUDGMENTS_CSV)


@pytest.fixture(scope="session")
def slice_products(icecat_products, judgments):
    judged = {doc for q in SLICE_QUERIES for doc in judgments[q]}
    all_judged = {doc for grades in judgments.values() for doc in grades}
    chosen = [p for p in icecat_products if p.id in judged]
    others = [p for p in icecat_products if p.id not in all_judged]
    chosen += random.Random(7).sample(others, SLICE_FILLER)
    return chosen


@pytest.fixture(scope="session")
def towers():
    from encoders.towers import Towers

    return Towers.load()


@pytest.fixture(scope="session")
def slice_index_root(tmp_path_factory, slice_products, towers):
    from indexer.build import IndexConfig, build_version
    from indexer.icecat import ICECAT_ATTRIBUTES

    root = tmp_path_factory.mktemp("slice-index")
    build_version(slice_products, towers.product, root, IndexConfig(attributes=ICECAT_ATTRIBUTES),
                  embedding_cache=tmp_path_factory.mktemp("embedding-cache"))
    return root


@pytest.fixture(scope="session")
def engine(slice_index_root, towers):
    from indexer.search_index import SearchIndex
    from search_engine.engine import Engine

    return Engine(SearchIndex.open_current(slice_index_root), towers)


@pytest.fixture
def app(engine, slice_index_root, tmp_path):
    from api import create_app
    from search_engine.settings import Settings

    settings = Settings(index_root=str(slice_index_root), events_path=str(tmp_path / "events.sqlite3"),
                        merchandising_path=str(tmp_path / "merchandising.sqlite3"),
                        judgments_path=str(tmp_path / "judgments.sqlite3"), admin_token="test-token")
    return create_app({"SETTINGS": settings, "ENGINE": engine, "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def small_catalog(slice_products):
    """60 real products: enough for versions and updates, quick to encode."""
    return slice_products[:60]


@pytest.fixture
def small_root(tmp_path, small_catalog, towers):
    """A fresh index root with one version of the small catalog."""
    from indexer.build import build_version

    root = tmp_path / "index"
    build_version(small_catalog, towers.product, root, embedding_cache=tmp_path.parent / "small-cache")
    return root


@pytest.fixture(scope="session")
def hand_log(tmp_path_factory, engine):
    """A small hand-written log over the real "hdmi cable" results: shopper 'fan' always buys
    the sixth result, shopper 'saver' the cheapest of the others below the top."""
    from search_engine.types import Query

    cables = [h.product for h in engine.search(Query("hdmi cable", k=6)).hits]
    fan_pick = cables[5]
    saver_pick = min((p for p in cables[1:5] if p.price), key=lambda p: p.price)
    lines = []
    for day in range(8):
        for user, pick in (("fan", fan_pick), ("saver", saver_pick)):
            shown = [p.id for p in cables]
            t = T + day * 86400 + (0 if user == "fan" else 3600)
            sid = f"{user}-{day}"
            lines.append({"user_id": user, "session_id": sid, "timestamp": t, "type": "search",
                          "query": "hdmi cable", "shown": shown, "search_id": sid})
            lines.append({"user_id": user, "session_id": sid, "timestamp": t + 5, "type": "click",
                          "product_id": pick.id, "position": shown.index(pick.id) + 1, "search_id": sid})
            lines.append({"user_id": user, "session_id": sid, "timestamp": t + 50, "type": "purchase",
                          "product_id": pick.id})
    path = tmp_path_factory.mktemp("log") / "events.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.fixture(scope="session")
def preference_model_root(hand_log, engine, slice_products, tmp_path_factory):
    """A folder of preference-model versions (one, trained on hand_log), as a server follows."""
    from search_engine.events import read_jsonl_events
    from search_engine.personalization.training import train_from_events

    model, _ = train_from_events(list(read_jsonl_events(hand_log)), engine, slice_products, rounds=20,
                                 params={"min_data_in_leaf": 1, "min_data_in_bin": 1})
    root = tmp_path_factory.mktemp("reranker")
    model.save(root)
    return root
