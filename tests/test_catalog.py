import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from indexer.icecat import icecat_category, icecat_record, load_icecat
from indexer.loaders import load_catalog
from indexer.validation import CatalogValidationError, parse_price

GOOD = {"id": "p1", "title": "Logitech M185 wireless mouse", "brand": "Logitech", "price": "19.99",
        "category": "mouse", "description": "Compact mouse", "attributes": {"colour": "Grey"}}
BAD_ROWS = [
    {"id": "", "title": "no id"},                      # row 2: missing id
    {"id": "p3", "title": "  "},                       # row 3: missing title
    {"id": "p1", "title": "duplicate of row 1"},       # row 4: duplicate id
    {"id": "p5", "title": "bad price", "price": "twelve"},  # row 5: unparseable price
    {"id": "p6", "title": "negative", "price": -3},    # row 6: negative price
]
GOOD_LAST = {"id": "p7", "title": "Anker USB hub", "price": 25}


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_csv(path, rows):
    columns = ["id", "title", "brand", "price", "category", "description", "colour"]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for r in rows:
            flat = {k: v for k, v in r.items() if k != "attributes"}
            flat.update(r.get("attributes", {}))
            writer.writerow(flat)
    return path


def write_parquet(path, rows):
    columns = ["id", "title", "brand", "price", "category", "description", "colour"]
    table = {c: [] for c in columns}
    for r in rows:
        flat = {k: v for k, v in r.items() if k != "attributes"}
        flat.update(r.get("attributes", {}))
        for c in columns:
            value = flat.get(c)
            table[c].append(None if value is None else str(value))
    pq.write_table(pa.table(table), path)
    return path


WRITERS = {"jsonl": write_jsonl, "csv": write_csv, "parquet": write_parquet}


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_bad_rows_fail_the_load_with_row_numbers_and_reasons(tmp_path, fmt):
    path = WRITERS[fmt](tmp_path / f"catalog.{fmt}", [GOOD, *BAD_ROWS, GOOD_LAST])
    with pytest.raises(CatalogValidationError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert "row 2: id: missing" in message
    assert "row 3 (id 'p3'): title: missing" in message
    assert "row 4 (id 'p1'): id: duplicate of row 1" in message
    assert "row 5 (id 'p5'): price: expected a number, got 'twelve'" in message
    assert "row 6 (id 'p6'): price: must not be negative" in message
    assert caught.value.report.rows_skipped == 5


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_skip_invalid_keeps_good_rows_and_reports_the_rest(tmp_path, fmt):
    path = WRITERS[fmt](tmp_path / f"catalog.{fmt}", [GOOD, *BAD_ROWS, GOOD_LAST])
    report = load_catalog(path, skip_invalid=True)
    assert [p.id for p in report.products] == ["p1", "p7"]
    assert report.rows_read == 7 and report.rows_skipped == 5
    assert "7 rows read, 2 valid, 5 invalid" in report.summary()
    first = report.products[0]
    assert (first.title, first.brand, first.price, first.category) == \
        ("Logitech M185 wireless mouse", "Logitech", 19.99, "mouse")
    assert first.attributes == {"colour": "Grey"}


def test_gzipped_jsonl_and_unparseable_json_line(tmp_path):
    """A line that is no JSON object is reported as what it is, not as a product missing its id."""
    import gzip

    path = tmp_path / "catalog.jsonl.gz"
    with gzip.open(path, "wt") as out:
        out.write(json.dumps(GOOD) + "\n{not json\n[1, 2]\n")
    report = load_catalog(path, skip_invalid=True)
    assert [p.id for p in report.products] == ["p1"]
    assert [str(e) for e in report.errors] == [
        "row 2: record: invalid JSON at character 2: Expecting property name enclosed in double quotes",
        "row 3: record: expected a JSON object, got list"]


def test_a_jsonl_records_other_fields_are_not_read_and_the_report_names_them(tmp_path):
    """A JSONL export carries metadata ("url", "_id"): not searched as if it were the
    product's text, and not dropped without a word."""
    path = tmp_path / "catalog.jsonl"
    rows = [{**GOOD, "id": f"p{i}", "url": f"/c/laptop-bags/{i}", "_id": {"$oid": str(i)}} for i in range(3)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows) + json.dumps({**GOOD, "id": "p9"}) + "\n")
    report = load_catalog(path)
    assert [p.id for p in report.products] == ["p0", "p1", "p2", "p9"] and report.errors == []
    assert all("url" not in p.attributes for p in report.products)
    assert report.ignored_fields == {"url": 3, "_id": 3}
    assert "not read (a product has id, title" in report.summary() and "url (3 rows)" in report.summary()
    assert report.limited(2).summary().startswith(f"{path}: 4 rows read, 4 valid, 0 invalid; the first 2 valid kept")


def test_spreadsheet_csv_exports_load(tmp_path):
    """Excel's "CSV UTF-8" starts with a byte-order mark; in locales with a decimal comma it
    separates columns with ';' and writes 1,29 and 1.299 (a thousand and more) for prices.
    Tab-separated files load too; column names are read in any case, spaces trimmed."""
    (tmp_path / "bom.csv").write_bytes("id,title,price\np1,Café mug,3.5\n".encode("utf-8-sig"))
    (tmp_path / "semicolon.csv").write_bytes("ID ; Title;Price;Farbe\np1;Tasse, groß;1,29;Blau\n"
                                             "p2;Kanne;1.299,00;\np3;Krug;1.299;\np4;Glas;12.50;\n"
                                             "p5;Vase;€ 2.500;\np6;Deckel;0.125;\np7;Löffel;0,450;\n"
                                             .encode("utf-8-sig"))
    (tmp_path / "tabs.tsv").write_text("id\ttitle\tprice\tSize (W, D, H)\np1\tMug; blue\t1.299\t8, 8, 9\n")
    (tmp_path / "bom.jsonl").write_bytes((json.dumps(GOOD) + "\n").encode("utf-8-sig"))
    products = {name: load_catalog(tmp_path / name).products
                for name in ("bom.csv", "semicolon.csv", "tabs.tsv", "bom.jsonl")}
    assert [(p.id, p.title, p.price) for p in products["bom.csv"]] == [("p1", "Café mug", 3.5)]
    assert [(p.id, p.title, p.price, p.attributes) for p in products["semicolon.csv"]] == [
        ("p1", "Tasse, groß", 1.29, {"Farbe": "Blau"}), ("p2", "Kanne", 1299.0, {}), ("p3", "Krug", 1299.0, {}),
        ("p4", "Glas", 12.5, {}), ("p5", "Vase", 2500.0, {}), ("p6", "Deckel", 0.125, {}),
        ("p7", "Löffel", 0.45, {})]
    # A tab file's header with commas is still tab-separated; '1.299' there is 1.299, as in English.
    assert [(p.id, p.title, p.price, p.attributes) for p in products["tabs.tsv"]] == [
        ("p1", "Mug; blue", 1.299, {"Size (W, D, H)": "8, 8, 9"})]
    assert [p.id for p in products["bom.jsonl"]] == ["p1"]


def test_a_header_naming_one_field_twice_is_refused(tmp_path):
    (tmp_path / "twice.csv").write_text("id,Price,title,price\np1,5,Mug,6\n")
    with pytest.raises(ValueError, match="twice.csv: the header names 'price' more than once"):
        load_catalog(tmp_path / "twice.csv")


def test_a_file_that_is_not_utf8_is_named_with_the_line_and_the_fix(tmp_path):
    (tmp_path / "latin1.csv").write_bytes("id,title\np1,Mug\np2,Café\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.csv: is not UTF-8 text: line 3 holds byte b'\\xe9' .*"
                                         r"save it as UTF-8"):
        load_catalog(tmp_path / "latin1.csv")
    (tmp_path / "utf16.csv").write_bytes("id,title\np1,Mug\n".encode("utf-16"))
    with pytest.raises(ValueError, match="utf16.csv: is UTF-16 text, not UTF-8; save it as UTF-8"):
        load_catalog(tmp_path / "utf16.csv")


@pytest.mark.parametrize("raw,expected", [("12.50", 12.5), (7, 7.0), ("$3", 3.0), ("", None), (None, None),
                                          ("1,29", 1.29), ("12,50 €", 12.5), ("1.299,00", 1299.0),
                                          ("1,299", 1299.0), ("1,299.50", 1299.5), ("1 299,00", 1299.0),
                                          ("1.299", 1.299), ("0.125", 0.125), ("0,99", 0.99)])
def test_parse_price_accepts(raw, expected):
    assert parse_price(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "nan", "-1", True, "inf", "1,2345", "1.29.00", "0,450"])
def test_parse_price_rejects(raw):
    with pytest.raises(ValueError):
        parse_price(raw)


def test_a_negative_decimal_comma_price_is_named_negative():
    with pytest.raises(ValueError, match="must not be negative"):
        parse_price("-1,00")


RAW_ICECAT = {
    "id": "3920564", "name": "006R90321", "supplier": "Xerox", "price": 4995,
    "title": "Xerox 006R90321 toner cartridge Original Black 6 pc(s)",
    "short_description": "Toner (6 Per Box)", "ean": ["0095205603217"],
    "img_high": "http://images.icecat.biz/x.jpg",
    "attr_t_printing_colours": "Black", "attr_n_quantity_per_pack": 6.0, "attr_b_colour": True,
}


def test_icecat_record_mapping():
    record = icecat_record(RAW_ICECAT)
    assert record["brand"] == "Xerox"
    assert record["price"] == pytest.approx(49.95)
    assert record["description"] == "Toner (6 Per Box)"
    assert record["category"] == "toner cartridge"
    assert record["attributes"] == {"model": "006R90321", "ean": "0095205603217", "printing_colours": "Black",
                                    "quantity_per_pack": 6.0, "colour": True}


def test_icecat_category_falls_back_to_product_type_or_nothing():
    assert icecat_category({"title": "C2G Cable", "name": "Cable", "attr_t_product_type": "Patch"}) == "patch"
    assert icecat_category({"title": "StarTech.com 3 ft Cat5e Patch Cable", "name": "3 ft Cat5e Patch Cable"}) == ""


def test_bundled_icecat_catalog_loads_completely(icecat_products):
    assert len(icecat_products) == 19406
    assert len({p.id for p in icecat_products}) == 19406
    assert all(p.title and p.brand for p in icecat_products)


def test_icecat_bad_price_is_reported(tmp_path):
    bad = dict(RAW_ICECAT, price="n/a")
    (tmp_path / "1.json").write_text(json.dumps([RAW_ICECAT, dict(bad, id="2")]))
    with pytest.raises(CatalogValidationError, match="row 2 \\(id '2'\\): price"):
        load_icecat(tmp_path)
