"""search-bench-peers without its peers (the product's CI never installs them): the command
line, the engine's own path on a tiny real index, the rule that picks a peer's best fusion
weight, and the table."""
from __future__ import annotations

import json
from dataclasses import asdict
from importlib.util import find_spec

import pytest

from scripts import bench_peers
from scripts.bench_peers import RunOptions, best_weight, held_out_ndcg, main, markdown_table

# Judged queries whose judged products make the tiny catalog; every word of each is in it,
# so the engine never corrects their spelling (it is handed exactly these vectors).
TINY_QUERIES = ("wireless mouse", "hdmi cable", "usb hub", "aa battery")
FILLER = 40


@pytest.fixture(scope="module")
def tiny_catalog(icecat_products, judgments):
    judged = {doc for q in TINY_QUERIES for doc in judgments[q]}
    unjudged = [p for p in icecat_products if p.id not in judged][:FILLER]
    return [p for p in icecat_products if p.id in judged] + unjudged


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory, tiny_catalog, towers):
    from indexer.build import IndexConfig, build_version
    from indexer.icecat import ICECAT_ATTRIBUTES

    root = tmp_path_factory.mktemp("peers-index")
    build_version(tiny_catalog, towers.product, root, IndexConfig(attributes=ICECAT_ATTRIBUTES))
    return root


@pytest.fixture(scope="module")
def tiny_judgments(tmp_path_factory, judgments):
    from search_engine.judgments import write_judgments

    path = tmp_path_factory.mktemp("peers-judgments") / "judgments.csv"
    write_judgments({q: judgments[q] for q in TINY_QUERIES}, path)
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory, tiny_root, tiny_judgments, towers):
    """The work folder a full run prepares, with short timings."""
    folder = tmp_path_factory.mktemp("peers-work")
    bench_peers.prepare_inputs(tiny_root, str(tiny_judgments), folder, encoder=towers.query)
    options = RunOptions(queries_repeat=2, threads=[1, 2], seconds=0.2, folds=2)
    (folder / "options.json").write_text(json.dumps(asdict(options)))
    return folder


def run_phase(work, system: str, phase: str) -> dict:
    part = work / f"{phase}-{system}.json"
    assert main(["--system", system, "--phase", phase, "--work", str(work), "--json", str(part)]) == 0
    return json.loads(part.read_text())


@pytest.fixture(scope="module")
def engine_figures(work):
    build = run_phase(work, "engine", "build")
    return build, run_phase(work, "engine", "serve")


# --- the command line ---------------------------------------------------------------------------


def test_help_names_every_system_the_measures_and_an_example(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for name in bench_peers.SYSTEMS:
        assert name in text
    for words in ("nDCG@10", "Recall@100", "MRR", "--queries-repeat", "--threads", "--seconds", "ELASTICSEARCH_URL",
                  "pip install .[peers]", "Examples:", "search-bench-peers --index var/index --json"):
        assert words in text


@pytest.mark.skipif(find_spec("lancedb") is not None, reason="lancedb is installed here")
@pytest.mark.parametrize("argv", [["--systems", "engine,lancedb"],
                                  ["--system", "lancedb-best", "--phase", "serve", "--work", "unused"]])
def test_a_missing_peer_exits_2_naming_the_extra(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "lancedb" in err and "pip install .[peers]" in err


@pytest.mark.parametrize("argv, message", [
    (["--systems", "engine,solr"], "unknown system(s) solr"),
    (["--systems", "engine", "--threads", "1,0"], "--threads: whole numbers from 1 up"),
    (["--systems", "engine", "--threads", "four"], "--threads: comma-separated whole numbers"),
    (["--systems", "engine", "--weights", "0.3,1.5"], "--weights: numbers from 0 to 1"),
    (["--systems", "engine", "--seconds", "0"], "--seconds: more than 0"),
    (["--systems", "engine", "--folds", "1"], "--folds: at least 2"),
    (["--systems", "engine-best", "--engine-best", "hybrid-fancy"], "--engine-best: unknown configuration"),
    (["--systems", "engine-best", "--ranker", "/nonexistent/rankers"], "--ranker: no relevance ranker"),
    (["--systems", "engine", "--index", "/nonexistent/index"], "--index: no index root"),
    (["--system", "engine"], "--system needs --phase build|serve and --work DIR"),
])
def test_bad_input_exits_2_with_a_message_naming_it(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_elasticsearch_runs_only_with_a_cluster(monkeypatch, capsys):
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    assert "engine-es" not in [s.name for s in bench_peers.chosen_systems(None)]
    assert main(["--systems", "engine-es"]) == 2
    assert "set ELASTICSEARCH_URL" in capsys.readouterr().err
    monkeypatch.setenv("ELASTICSEARCH_URL", "http://127.0.0.1:9200")
    assert "engine-es" in [s.name for s in bench_peers.chosen_systems(None)]


def test_system_phase_refuses_a_work_folder_without_inputs(tmp_path, capsys):
    assert main(["--system", "engine", "--phase", "serve", "--work", str(tmp_path)]) == 2
    assert "holds no inputs" in capsys.readouterr().err


# --- the engine's own path on a tiny index --------------------------------------------------------


def test_inputs_are_the_index_products_their_vectors_and_the_encoded_queries(work, tiny_catalog, tiny_root):
    import numpy as np

    from indexer.search_index import SearchIndex

    inputs = bench_peers.load_inputs(work)
    assert inputs.queries == list(TINY_QUERIES)
    assert sorted(inputs.ids) == sorted(p.id for p in tiny_catalog)
    index = SearchIndex.open_current(tiny_root, use_gpu=False)
    snapshot = index.snapshot()
    vectors = bench_peers.product_vectors(work)
    first = snapshot.products.doc_of(inputs.ids[0])
    assert np.allclose(vectors[0], snapshot.vectors.vector(first))
    assert inputs.query_vectors.shape == (len(TINY_QUERIES), vectors.shape[1])
    # The peers' one text field holds what the engine's keyword field does, e.g. the brand.
    product = snapshot.products.product(first)
    assert product.title in inputs.texts[0] and (product.brand or "") in inputs.texts[0]


def test_engine_build_figures(engine_figures):
    build, _ = engine_figures
    assert build["build_s"] > 0 and build["disk_bytes"] > 100_000
    assert build["settings"]["keyword"]["backend"] == "tantivy"
    assert {"faiss-cpu", "tantivy", "numpy"} <= set(build["versions"])


def test_engine_serve_figures_are_sane(engine_figures):
    _, serve = engine_figures
    summary = serve["quality"]["summary"]
    assert 0.3 < summary["ndcg@10"] <= 1 and 0.3 < summary["recall@100"] <= 1 and 0 < summary["mrr"] <= 1
    assert len(serve["quality"]["per_query"]) == len(TINY_QUERIES)
    assert set(serve["legs"]) == {"keyword", "dense"}
    latency = serve["latency"]
    assert latency["searches"] == 2 * len(TINY_QUERIES) and 0 < latency["p50_ms"] <= latency["p99_ms"]
    assert [t["threads"] for t in serve["throughput"]] == [1, 2]
    assert all(t["searches"] > 0 and "errors" not in t for t in serve["throughput"])
    assert serve["memory"]["rss_mb"] > serve["memory"]["baseline_rss_mb"] > 0
    assert serve["query_vectors_encoded_during_run"] == 0  # every vector was given
    assert serve["settings"]["dense_weight"] == 0.4 and serve["settings"]["ranker"] is None
    sweep = serve["sweep"]
    assert sweep["best_weight"] in RunOptions().weights and set(sweep["ndcg@10_by_weight"]) >= {"0", "0.4", "1"}
    assert sweep["ndcg@10_by_weight"]["0.4"] == pytest.approx(summary["ndcg@10"])


def test_engine_figures_are_search_evaluates(engine_figures, tiny_root, towers, tiny_judgments):
    """The same engine, vectors and metric functions as search-evaluate's default hybrid."""
    from indexer.search_index import SearchIndex
    from search_engine.engine import Engine
    from search_engine.evaluation import Configuration, evaluate
    from search_engine.judgments import load_judgments

    engine = Engine(SearchIndex.open_current(tiny_root, use_gpu=False), towers)
    expected = evaluate(engine, load_judgments(tiny_judgments), [Configuration.parse("hybrid-linear:0.4")])[0]
    _, serve = engine_figures
    for metric, value in expected.summary().items():
        assert serve["quality"]["summary"][metric] == pytest.approx(value, abs=1e-6)


# --- the rule for a peer's best weight ------------------------------------------------------------


def test_the_rule_picks_the_best_mean_weight_and_the_first_on_a_tie():
    per_weight = {0.2: [0.5, 0.5, None], 0.5: [0.9, 0.3, 0.1], 0.8: [0.6, 0.6, 0.6]}
    assert best_weight(per_weight, [0, 1, 2]) == 0.8  # 0.6 against 0.5 (None skipped) and 0.433
    assert best_weight(per_weight, [0]) == 0.5
    assert best_weight({0.1: [0.4], 0.9: [0.4]}, [0]) == 0.1


def test_the_cross_validated_rule_scores_each_query_on_a_weight_picked_without_it():
    queries = ["a", "b", "c", "d"]
    # 0.1 wins on three queries, 0.9 on "d": a fold training on "d" and one other ties (0.5 each)
    # and takes the first weight, so 0.1 is picked in both folds and "d" is scored at 0.1.
    per_weight = {0.1: [0.8, 0.8, 0.8, 0.2], 0.9: [0.1, 0.1, 0.1, 0.9]}
    held = held_out_ndcg(per_weight, queries, folds=2)
    assert held["weights_picked"] == [0.1, 0.1]
    assert held["ndcg@10"] == pytest.approx((0.8 * 3 + 0.2) / 4)
    assert held_out_ndcg(per_weight, queries, folds=5)["ndcg@10"] is None  # 4 query groups, 5 folds


# --- the table -------------------------------------------------------------------------------------


def test_the_table_has_a_row_per_system_and_says_which_failed():
    ok = {"quality": {"summary": {"ndcg@10": 0.81234, "recall@100": 0.9, "mrr": 0.85}},
          "build": {"build_s": 3.2, "disk_bytes": 64 * 1024 ** 2}, "memory": {"rss_mb": 210.0},
          "latency": {"p50_ms": 3.1, "p99_ms": 7.9},
          "throughput": [{"threads": 1, "searches_per_s": 300.0}, {"threads": 4, "searches_per_s": 420.5}]}
    table = markdown_table({"options": {"threads": [1, 4]},
                            "systems": {"engine": ok, "txtai": {"error": "serve exited with status 1"}}})
    lines = table.splitlines()
    assert lines[0].startswith("| system | nDCG@10 | Recall@100 | MRR | build s | disk MB | RSS MB | p50 ms | p99 ms")
    assert lines[0].endswith("| q/s 1 thread | q/s 4 threads |")
    assert lines[2] == "| engine | 0.8123 | 0.9000 | 0.8500 | 3.20 | 64.0 | 210.0 | 3.10 | 7.90 | 300.0 | 420.5 |"
    assert lines[3].startswith("| txtai | failed: serve exited with status 1 |")
    assert all(line.count("|") == lines[0].count("|") for line in lines)


# --- the whole run, one process per phase ----------------------------------------------------------


@pytest.mark.slow
def test_a_whole_engine_run_prints_the_table_and_writes_the_json(tiny_root, tiny_judgments, tmp_path, capsys):
    out = tmp_path / "peers.json"
    assert main(["--index", str(tiny_root), "--judgments", str(tiny_judgments), "--systems", "engine",
                 "--queries-repeat", "1", "--threads", "1", "--seconds", "0.2", "--folds", "2",
                 "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| engine | " in table and "failed" not in table
    figures = json.loads(out.read_text())
    result = figures["systems"]["engine"]
    assert result["quality"]["summary"]["ndcg@10"] > 0.3
    assert result["build"]["build_s"] > 0 and result["memory"]["rss_mb"] > 0
    assert figures["inputs"]["queries"] == len(TINY_QUERIES) and figures["inputs"]["products"] > FILLER
    assert {"faiss-cpu", "tantivy"} <= set(figures["versions"])
