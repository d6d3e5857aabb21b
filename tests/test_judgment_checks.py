"""Judgments and benchmarks meet a shop's own catalog: another catalog's judgment list is
refused, not scored as a silent 0, and no benchmark replaces a shop's index."""
import pytest

from search_engine.judgments import check_judged_products

JUDGMENTS = {"usb hub": {"a": 3.0, "b": 0.0}, "mouse": {"c": 2.0, "d": 1.0}}


def test_a_list_for_another_catalog_is_refused_and_a_mostly_unknown_one_warned_about():
    with pytest.raises(ValueError, match="none of the 4 products judged in list.csv is in this index"):
        check_judged_products(JUDGMENTS, lambda product_id: False, "list.csv")
    warning = check_judged_products(JUDGMENTS, lambda product_id: product_id == "a", "list.csv")
    assert warning.startswith("only 1 of the 4 products judged in list.csv")
    assert check_judged_products(JUDGMENTS, lambda product_id: product_id != "d", "list.csv") is None


@pytest.mark.slow
def test_search_evaluate_refuses_judgments_of_another_catalog(slice_index_root, tmp_path, capsys, monkeypatch):
    from scripts.evaluate import main as search_evaluate

    monkeypatch.setenv("SEARCH_MERCHANDISING_PATH", str(tmp_path / "m.sqlite3"))
    path = tmp_path / "groceries.csv"
    path.write_text("query,docid,rating\nolive oil,G-1001,3\nolive oil,G-1002,0\n")
    assert search_evaluate(["--index", str(slice_index_root), "--judgments", str(path), "--config", "keyword"]) == 2
    assert "none of the 2 products judged" in capsys.readouterr().err


@pytest.mark.slow
def test_the_search_benchmark_never_replaces_an_index_of_another_catalog(small_root):
    from indexer import versions
    from scripts.bench_search import ensure_index

    serving = versions.current_version(small_root)
    with pytest.raises(SystemExit, match="holds an index of another catalog"):
        ensure_index(str(small_root), encode_sample=0)
    assert versions.list_versions(small_root) == [serving] and versions.current_version(small_root) == serving
