"""The workbench's JSON endpoints: compare two configurations, judge results, evaluate.

Everything here needs the admin token (api/auth.py). The page sends its login cookie and
CSRF header; a script may send the bearer token instead.
"""
from __future__ import annotations

import csv
import io
from dataclasses import replace

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.datastructures import MultiDict

from api.auth import require_admin
from api.engine_holder import current_engine
from api.errors import ApiError
from api.events import event_store
from api.params import json_body, query_from
from api.serialize import fusion_json, result_json
from search_engine.evaluation import DEFAULT_CONFIGURATIONS, Configuration, configured_engine, evaluate, \
    format_table, query_changes, unjudged_rows
from search_engine.judgments import COLUMNS, products_not_held, read_judgments, write_judgments_to
from search_engine.rank_diff import rank_changes
from search_engine.results_page import attribute_parameter_offered, filter_parameters, sort_offered
from search_engine.types import SORTS, FacetRequest, Query
from search_engine.version_engines import UnknownVersionError

bp = Blueprint("workbench_api", __name__, url_prefix="/workbench/api")
bp.before_request(require_admin)
CONFIG_FIELDS = ("name", "mode", "fusion", "dense_weight", "version", "user", "ranker")
MAX_CONFIGURATIONS = 10
MAX_UNKNOWN_LISTED = 20  # ids named in a judgment import's report; the count has them all
SHOWN_CHANGES = 10  # queries listed as better and as worse


def _judgment_store():
    return current_app.extensions["judgment_store"]


def _json_body() -> dict:
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError("the body must be a JSON object", parameter="body")
    return body


def configuration_from(raw, label: str) -> Configuration:
    """A configuration from the page: {"name", "mode", "fusion", "dense_weight", "version", "user",
    "ranker"};
    errors name the field as "<label>.<field>"; the name defaults to the label."""
    if not isinstance(raw, dict):
        raise ApiError(f"{label} must be an object with {', '.join(CONFIG_FIELDS)}", parameter=label)
    unknown = sorted(set(raw) - set(CONFIG_FIELDS))
    if unknown:
        raise ApiError(f"{label}: unknown field(s) {', '.join(unknown)}", parameter=f"{label}.{unknown[0]}")
    values = {k: v for k, v in raw.items() if v not in ("", None)}
    if isinstance(values.get("dense_weight"), str):
        try:
            values["dense_weight"] = float(values["dense_weight"])
        except ValueError:
            raise ApiError(f"{label}.dense_weight must be a number from 0 to 1, got {raw['dense_weight']!r}",
                           parameter=f"{label}.dense_weight") from None
    for text_field in ("name", "version", "user"):
        if text_field in values and (not isinstance(values[text_field], str) or len(values[text_field]) > 200):
            raise ApiError(f"{label}.{text_field} must be a string of at most 200 characters",
                           parameter=f"{label}.{text_field}")
    values["user"] = values.get("user", "").strip() or None
    if not isinstance(values.get("ranker", False), bool):
        raise ApiError(f"{label}.ranker must be true or false", parameter=f"{label}.ranker")
    try:
        return Configuration(**{"name": label, **values})
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        raise ApiError(f"{label}.{field}: {message}", parameter=f"{label}.{field}") from None


def _engine_for_version(version: str, label: str = "version"):
    try:
        return current_app.extensions["version_engines"].engine(current_engine(), version)
    except UnknownVersionError as exc:
        raise ApiError(f"{label}: {exc}", parameter=label) from None


def _configured(configuration: Configuration, label: str):
    try:
        return configured_engine(current_engine(), configuration,
                                 lambda version: _engine_for_version(version, f"{label}.version"))
    except ValueError as exc:  # asked for a ranker this server has not loaded
        field, _, message = str(exc).partition(": ")
        raise ApiError(f"{label}.{field}: {message}", parameter=f"{label}.{field}") from None


@bp.get("/options")
def options():
    engine = current_engine()
    reranker = engine.reranker
    events = event_store()
    return jsonify({
        "serving_version": engine.index.version,
        "versions": current_app.extensions["version_engines"].describe(engine.index.version),
        "defaults": {"mode": "hybrid", "fusion": engine.config.fusion, "dense_weight": engine.config.dense_weight,
                     "ranker": engine.ranker is not None},
        "personalization": reranker.model.version if reranker is not None else None,
        "ranker": engine.ranker.version if engine.ranker is not None else None,
        "users": [{"user": user, "events": count} for user, count in events.users(100)],
        "named_configurations": [c.name for c in DEFAULT_CONFIGURATIONS],
        "facets": list(workbench_facets(engine.index.products.attributes)),
        "sorts": list(SORTS) + [
            f"attr.{name}_{direction}" for name in engine.index.products.attributes.numeric
            for direction in ("asc", "desc")],
    })


def workbench_facets(attributes) -> tuple[str, ...]:
    """What the workbench counts for a merchant: brand, type, price and the value attributes."""
    return ("brand", "category", "price", *(f"attr.{name}" for name in attributes.facets))


def for_attributes(query: Query, attributes) -> tuple[Query, list[str]]:
    """The query for an index version with these attributes: the workbench's facets, and
    without the attribute filters and sort it does not offer (named in the list)."""
    ignored = [p for p in filter_parameters(query.filters) if not attribute_parameter_offered(p, attributes)]
    filters = replace(query.filters,
                      attributes=tuple(a for a in query.filters.attributes if a[0] in attributes.facets),
                      ranges=tuple(r for r in query.filters.ranges if r[0] in attributes.numeric))
    sort = query.sort
    if not sort_offered(sort, attributes):
        ignored.append("sort")
        sort = "relevance"
    facets = FacetRequest(workbench_facets(attributes), size=8)
    return replace(query, filters=filters, sort=sort, facets=facets), ignored


@bp.post("/compare")
def compare():
    """{"q", "k", "brand", "category", "price_min", "price_max", "sort", "attr": {name: [values]},
    "a": {...}, "b": {...}}: both rankings with per-stage scores and facets (brand, type, price,
    the value attributes), and how B's list differs from A's."""
    body = _json_body()
    args = MultiDict()
    attributes = body.get("attr") or {}
    if not isinstance(attributes, dict):
        raise ApiError("attr must be an object of attribute name -> list of values", parameter="attr")
    fields = [(name, body.get(name)) for name in ("q", "k", "brand", "category", "price_min", "price_max", "sort")]
    for name, values in fields + [(f"attr.{name}", values) for name, values in attributes.items()]:
        for value in values if isinstance(values, list) else [values]:
            if value is not None:
                args.add(name, str(value))
    query = replace(query_from(args), explain=True)  # the shoppers' endpoint's checks and messages
    sides, ignored = {}, {}
    for label in ("a", "b"):
        configuration = configuration_from(body.get(label, {}), label)
        engine = _configured(configuration, label)
        # Each side counts the facets its own index version offers and leaves out the filters
        # and sort it lacks (an older version may have no attributes), saying so.
        side_query, ignored[label] = for_attributes(query, engine.index.products.attributes)
        result = engine.search(replace(side_query, mode=configuration.mode, user=configuration.user))
        sides[label] = {**result_json(result, fusion_json(engine.config)), "ignored": ignored[label]}
    unknown = [p for p in ignored["a"] if p in ignored["b"]]
    if unknown:
        raise ApiError(f"{unknown[0]}: neither side's index version offers it", parameter=unknown[0])
    ids = {label: [hit["id"] for hit in side["results"]] for label, side in sides.items()}
    grades = _judgment_store().judgments_for(query.text)
    products = current_engine().index.products
    return jsonify({
        "query": query.text,
        "a": sides["a"],
        "b": sides["b"],
        "changes": [{"id": c.product_id, "a": c.before, "b": c.after, "status": c.status, "moved": c.moved}
                    for c in rank_changes(ids["a"], ids["b"])],
        "judgments": grades,
        # Titles of the judged products, for the list of marks (most are not in either list).
        "judged_titles": {pid: product.title for pid in grades if (product := products.get(pid)) is not None},
    })


@bp.get("/judgments")
def list_judgments():
    """?query=... for one query's marks; without it, every query with its count of marks."""
    store = _judgment_store()
    query = (request.args.get("query") or "").strip()
    if query:
        return jsonify({"query": query, "judgments": store.judgments_for(query)})
    judged = store.judgments()
    return jsonify({"queries": [{"query": q, "judged": len(g)} for q, g in judged.items()],
                    "total": sum(len(g) for g in judged.values())})


@bp.post("/judgments")
def mark_judgment():
    """{"query", "product_id", "rating": 0-3, "version"?}: a new mark replaces the old one."""
    body = _json_body()
    query, product_id = body.get("query"), body.get("product_id")
    if not isinstance(query, str) or not query.strip():
        raise ApiError("query must be a non-empty string", parameter="query")
    if not isinstance(product_id, str) or not product_id.strip():
        raise ApiError("product_id must be a non-empty string", parameter="product_id")
    version = body.get("version")  # the version the result came from: a staged one may have new products
    if version is not None and not isinstance(version, str):
        raise ApiError("version must be a string", parameter="version")
    engine = _engine_for_version(version) if version else current_engine()
    if engine.index.products.get(product_id.strip()) is None:
        raise ApiError(f"no product with id {product_id!r}", parameter="product_id")
    try:
        _judgment_store().mark(query, product_id, body.get("rating"))
    except ValueError as exc:
        raise ApiError(str(exc), parameter="rating") from None
    return jsonify({"query": query.strip(), "product_id": product_id.strip(), "rating": body["rating"]})


@bp.delete("/judgments")
def forget_judgment():
    body = _json_body()
    if not _judgment_store().forget(str(body.get("query", "")), str(body.get("product_id", ""))):
        raise ApiError("no such judgment", status=404, parameter="product_id")
    return jsonify({"deleted": True})


@bp.get("/judgments.csv")
def export_judgments():
    text = io.StringIO()
    write_judgments_to(_judgment_store().judgments(), text)
    return Response(text.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=judgments.csv"})


@bp.post("/judgments.csv")
def import_judgments():
    """A query,docid,rating CSV (the Icecat list's format), as a form upload "file" or the raw
    body; all rows are stored or none. The answer counts the judged product ids that the
    serving version (or `version`, a form field or query parameter) does not hold."""
    upload = request.files.get("file")
    data = upload.read() if upload else request.get_data()
    if not data.strip():
        raise ApiError(f"send a CSV with the columns {','.join(COLUMNS)} as the body or a form file 'file'",
                       parameter="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError("the CSV must be UTF-8 text", parameter="file") from None
    # Marks of products the version lacks are imported, and reported: a list may judge products
    # deleted since (an export of older marks) or only a staged version has, and a spreadsheet
    # that dropped an id's leading zeros shows up here.
    version = request.form.get("version") or request.args.get("version")
    products = (_engine_for_version(version) if version else current_engine()).index.products
    source = (upload.filename if upload and upload.filename else "") or "upload.csv"  # named in errors
    try:
        judgments = read_judgments(io.StringIO(text, newline=""), source)
        count = _judgment_store().import_judgments(judgments, source)
    except (ValueError, csv.Error) as exc:
        raise ApiError(f"nothing was imported: {exc}", parameter="file") from None
    unknown = products_not_held(judgments, lambda product_id: products.get(product_id) is not None)
    return jsonify({"imported": count, "queries": len(_judgment_store().judgments()),
                    "unknown_product_count": len(unknown), "unknown_products": unknown[:MAX_UNKNOWN_LISTED]})


@bp.post("/evaluate")
def run_evaluation():
    """{"configurations": [config or named configuration, ...]} over the stored judgments: the
    same evaluation as search-evaluate, with per-query nDCG@10 of the first two compared, and
    the unjudged products of every configuration's top 10 (search-evaluate --unjudged)."""
    body = _json_body()
    raw = body.get("configurations")
    if not isinstance(raw, list) or not raw:
        raise ApiError("configurations must be a non-empty list", parameter="configurations")
    if len(raw) > MAX_CONFIGURATIONS:
        raise ApiError(f"at most {MAX_CONFIGURATIONS} configurations, got {len(raw)}", parameter="configurations")
    configurations = []
    for i, item in enumerate(raw):
        label = f"configurations[{i}]"
        if isinstance(item, str):
            try:
                configurations.append(Configuration.parse(item))
            except ValueError as exc:
                raise ApiError(f"{label}: {exc}", parameter=label) from None
        else:
            configurations.append(configuration_from(item, label))
        _configured(configurations[-1], label)  # its version opened now, a ranker it needs loaded, or a 400 naming it
    judgments = _judgment_store().judgments()
    if not judgments:
        raise ApiError("no judgments stored yet: mark results 0-3 or import a judgment CSV first",
                       parameter="judgments")
    engine = current_engine()
    results = evaluate(engine, judgments, configurations, _engine_for_version)
    body = {
        "queries": len(judgments),
        "table": [{"name": r.configuration.name, **r.summary()} for r in results],
        "text": format_table(results),
        "unjudged": unjudged_rows(results, judgments, engine.index.products),
    }
    if len(results) >= 2:
        changes = query_changes(results[0], results[1])
        body["compared"] = [results[0].configuration.name, results[1].configuration.name]
        body["per_query"] = [{"query": c.query, "a": c.before, "b": c.after, "delta": c.delta} for c in changes]
        body["better"] = [row for row in body["per_query"] if row["delta"] > 0][:SHOWN_CHANGES]
        body["worse"] = [row for row in body["per_query"] if row["delta"] < 0][::-1][:SHOWN_CHANGES]
    return jsonify(body)
