"""Merchants' judgments: marked, replaced, exported and imported in the Icecat CSV format."""
import pytest

from search_engine.judgment_store import JudgmentStore
from search_engine.judgments import load_judgments


def test_marks_replace_per_normalised_query_and_round_trip_through_csv(tmp_path):
    store = JudgmentStore(tmp_path / "judgments.sqlite3")
    store.mark("HDMI cable", "p1", 3)
    store.mark("hdmi  cable ", "p1", 1)  # the same query: the new mark replaces the old
    store.mark("hdmi cable", "p2", 0)
    store.mark("toner", "p9", 2)
    assert store.judgments() == {"hdmi cable": {"p1": 1.0, "p2": 0.0}, "toner": {"p9": 2.0}}
    store.export_csv(tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_text().splitlines()[0] == "query,docid,rating"
    exported = load_judgments(tmp_path / "out.csv")
    assert exported == store.judgments()
    other = JudgmentStore(tmp_path / "other.sqlite3")
    assert other.import_csv(tmp_path / "out.csv") == 3
    assert other.judgments() == store.judgments()
    assert store.forget("HDMI CABLE", "p2") and not store.forget("hdmi cable", "p2")


def test_a_spreadsheet_judgment_list_loads(tmp_path):
    """Excel's "CSV UTF-8" export: a byte-order mark, and ';' between columns in comma-decimal locales."""
    (tmp_path / "j.csv").write_bytes("Query;DocID; Rating\nhdmi, 2 m;p1;3\nHDMI,  2 m;p2;2,0\nhdmi, 2 m;p1;3\n"
                                     .encode("utf-8-sig"))
    # One query whatever its case and spacing (as search reads it), under its first spelling.
    assert load_judgments(tmp_path / "j.csv") == {"hdmi, 2 m": {"p1": 3.0, "p2": 2.0}}
    (tmp_path / "twice.csv").write_text("query,docid,rating\nmouse,p1,3\nMouse,p1,1\n")
    with pytest.raises(ValueError, match=r"twice.csv: row 2: 'mouse', 'p1' is graded 1 here and 3 in row 1"):
        load_judgments(tmp_path / "twice.csv")
    (tmp_path / "latin1.csv").write_bytes("query,docid,rating\ncafé,p1,3\n".encode("latin-1"))
    with pytest.raises(ValueError, match="latin1.csv: is not UTF-8 text"):
        load_judgments(tmp_path / "latin1.csv")


def test_bad_marks_and_rows_are_named_and_store_nothing(tmp_path):
    store = JudgmentStore(tmp_path / "judgments.sqlite3")
    with pytest.raises(ValueError, match="^rating: must be 0, 1, 2 or 3"):
        store.mark_many([("toner", "p1", 2), ("toner", "p2", 5)])
    with pytest.raises(ValueError, match="^query:"):
        store.mark(" ", "p1", 1)
    assert store.judgments() == {}  # the batch with one bad row stored nothing
    bad = tmp_path / "bad.csv"
    bad.write_text("query,docid,rating\ntoner,p1,2\ntoner,p2,x\n")
    with pytest.raises(ValueError, match="row 2: rating 'x' is not a number"):
        store.import_csv(bad)
    half = tmp_path / "half.csv"
    half.write_text("query,docid,rating\ntoner,p1,2.5\n")
    with pytest.raises(ValueError, match="not a whole grade"):
        store.import_csv(half)
    assert store.judgments() == {}


def test_the_bundled_icecat_list_imports_whole(tmp_path):
    from tests.conftest import JUDGMENTS_CSV

    store = JudgmentStore(tmp_path / "judgments.sqlite3")
    assert store.import_csv(JUDGMENTS_CSV) == sum(len(g) for g in load_judgments(JUDGMENTS_CSV).values())
    assert len(store.judgments()) == 135
