"""GET /openapi.json against the code: its operations are exactly the app's routes, and real
responses of every endpoint (a success and an error each) validate against the schema it gives
for that path, method and status. Response schemas forbid undocumented fields, so a field the
code returns but the document lacks fails here."""
from __future__ import annotations

import copy
import io
import json
import re
from dataclasses import replace
from functools import cached_property

import pytest
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

pytestmark = pytest.mark.slow
TOKEN = "test-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
DOCUMENT_URI = "urn:openapi"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
FACETS = "brand,category,price,attr.product_colour,attr.weight"
CSV = "query,docid,rating\n"


# ---------------------------------------------------------------- the document and its schemas

@pytest.fixture(scope="module")
def document():
    """The document as /openapi.json serves it (JSON round trip); the first test checks they agree."""
    from api.openapi import openapi_document

    return json.loads(json.dumps(openapi_document()))


def registry_of(document) -> Registry:
    return Registry().with_resource(DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012))


def pointer(*parts: str) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def validator(document, *parts: str) -> Draft202012Validator:
    """A validator for the schema at document[parts...]: its $refs resolve in the document."""
    return Draft202012Validator({"$ref": f"{DOCUMENT_URI}#{pointer(*parts)}"}, registry=registry_of(document))


def flask_path(rule: str) -> str:
    """/admin/rules/<int:rule_id> -> /admin/rules/{rule_id}"""
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule)


def app_operations(app) -> set[tuple[str, str]]:
    return {(flask_path(rule.rule), method.lower()) for rule in app.url_map.iter_rules()
            if rule.endpoint != "static" and not rule.endpoint.endswith(".static")
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def documented_operations(document) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS}


def refs_in(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs_in(value)


def test_the_document_is_openapi_3_1_and_documents_exactly_the_apps_routes(client, app, document):
    served = client.get("/openapi.json")
    assert served.status_code == 200 and served.mimetype == "application/json"  # no auth needed
    assert served.get_json() == document
    assert client.get("/openapi.json").get_json() == document
    assert app.extensions["openapi_document"] is not None  # built once per app, then served
    assert document["openapi"] == "3.1.0" and {"title", "version"} <= set(document["info"])
    assert document["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}

    resolver = registry_of(document).resolver(DOCUMENT_URI)
    refs = set(refs_in(document))
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        resolver.lookup(ref)  # raises when it does not resolve
    for name, schema in document["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)

    operation_ids = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert method in HTTP_METHODS and operation["summary"] and operation["responses"]
            operation_ids.append(operation["operationId"])
            for status, response in operation["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", status) and response["description"]
                for media in response.get("content", {}).values():
                    Draft202012Validator.check_schema(media["schema"])
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{([^}]+)}", path)), (path, method)
            assert all(p["required"] for p in operation.get("parameters", []) if p["in"] == "path")
            if operation.get("security"):
                assert {"401", "403"} <= set(operation["responses"])
    assert len(operation_ids) == len(set(operation_ids))

    assert documented_operations(document) == app_operations(app)


def test_search_documents_every_parameter_the_code_reads(document):
    parameters = {p["name"]: p for p in document["paths"]["/search"]["get"]["parameters"]}
    assert set(parameters) >= {"q", "k", "offset", "mode", "brand", "category", "price_min", "price_max", "user",
                               "session", "explain", "highlight", "sort", "facets", "facet_size", "price_buckets"}
    assert parameters["q"]["required"] and parameters["k"]["schema"]["maximum"] == 100
    dynamic = parameters["attributes"]
    assert dynamic["style"] == "form" and dynamic["explode"] and "attr.<name>" in dynamic["description"]
    check = Draft202012Validator(dynamic["schema"])
    assert check.is_valid({"attr.product_colour": ["Black"], "attr.weight_min": 1, "attr.weight_max": 2})
    assert not check.is_valid({"colour": ["Black"]}) and not check.is_valid({"attr.weight_min": ["1"]})


# ---------------------------------------------------------------- real requests

class RecordingClient(FlaskClient):
    """A test client whose responses remember the JSON body they answered."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        response.app, response.sent_json = self.application, kwargs.get("json")
        return response


def recording(app) -> RecordingClient:
    return RecordingClient(app, app.response_class, use_cookies=True)


@pytest.fixture(scope="module")
def full_app(engine, judgments, preference_model_root, hand_log, slice_index_root, tmp_path_factory):
    """A server with a relevance ranker, a preference model and a merchandising rule, so one
    search shows every part of explain."""
    from api import create_app
    from search_engine.events import read_jsonl_events
    from search_engine.merchandising import Rule
    from search_engine.personalization.model import load_model
    from search_engine.personalization.reranker import PreferenceReranker
    from search_engine.settings import Settings
    from search_engine.types import Query
    from search_engine.understanding.ranker_training import ranked_lists, train_ranker

    queries = ["wireless mouse", "hdmi cable", "usb hub", "backpack"]
    folder = tmp_path_factory.mktemp("full-app")
    ranker = train_ranker(ranked_lists(engine, judgments, queries), {"test": True}, rounds=10)
    ranker.save(folder / "rankers")  # a saved ranker has a version
    history: dict[str, list] = {}
    for event in read_jsonl_events(hand_log):
        history.setdefault(event.user_id, []).append(event)
    reranker = PreferenceReranker(load_model(preference_model_root), lambda user: history.get(user, []))
    settings = Settings(index_root=str(slice_index_root), events_path=str(folder / "events.sqlite3"),
                        merchandising_path=str(folder / "merchandising.sqlite3"),
                        judgments_path=str(folder / "judgments.sqlite3"), admin_token=TOKEN)
    app = create_app({"SETTINGS": settings, "ENGINE": replace(engine, ranker=ranker, reranker=reranker),
                      "TESTING": True})
    boosted = engine.search(Query("hdmi cable", k=5)).hits[3].product.brand
    app.extensions["rule_store"].add(Rule(query="hdmi cable", action="boost", brand=boosted))
    return app


class Clients:
    """The servers an exchange may talk to, made when first asked for."""

    def __init__(self, request):
        self.request = request

    @cached_property
    def shop(self) -> RecordingClient:
        """The shared slice index (admin token "test-token"); nothing here writes products."""
        return recording(self.request.getfixturevalue("app"))

    @cached_property
    def writable(self) -> RecordingClient:
        """A fresh small index of its own, for product writes."""
        from indexer.search_index import SearchIndex
        from search_engine.engine import Engine

        root = self.request.getfixturevalue("small_root")
        engine = Engine(SearchIndex.open_current(root), self.request.getfixturevalue("towers"))
        return recording(self._app(root, engine, admin_token=TOKEN))

    @cached_property
    def disabled(self) -> RecordingClient:
        """No admin token configured: the admin endpoints and the workbench are off."""
        return recording(self._app(self.request.getfixturevalue("slice_index_root"),
                                   self.request.getfixturevalue("engine")))

    @cached_property
    def full(self) -> RecordingClient:
        """The server with a ranker, a preference model and a merchandising rule (full_app)."""
        return recording(self.request.getfixturevalue("full_app"))

    def _app(self, root, engine, **settings):
        from api import create_app
        from search_engine.settings import Settings

        folder = self.request.getfixturevalue("tmp_path")
        return create_app({"SETTINGS": Settings(index_root=str(root), events_path=str(folder / "e.sqlite3"),
                                                merchandising_path=str(folder / "m.sqlite3"),
                                                judgments_path=str(folder / "j.sqlite3"), **settings),
                           "ENGINE": engine, "TESTING": True})

    def product_id(self, client=None) -> str:
        """A product the index has: the first result for "hdmi cable"."""
        response = (client or self.shop).get("/search", query_string={"q": "hdmi cable"})
        return response.get_json()["results"][0]["id"]

    def logged_in(self) -> tuple[RecordingClient, str]:
        """The shop's client logged in to the workbench, and the page's CSRF token."""
        assert self.shop.post("/workbench/login", data={"token": TOKEN}).status_code == 303
        page = self.shop.get("/workbench").get_data(as_text=True)
        return self.shop, page.split('name="csrf-token" content="')[1].split('"')[0]

    def rule(self) -> int:
        """A stored merchandising rule's id."""
        created = self.shop.post("/admin/rules", headers=BEARER,
                                 json={"query": "usb hub", "action": "bury", "brand": "Belkin"})
        assert created.status_code == 201
        return created.get_json()["id"]

    def suggestion_rule(self) -> int:
        """A stored suggestion rule's id."""
        created = self.shop.post("/admin/suggestions/rules", headers=BEARER, json={"text": "usb", "action": "block"})
        assert created.status_code == 201
        return created.get_json()["id"]

    def synonym(self) -> int:
        """A stored synonym rule's id."""
        created = self.shop.post("/admin/synonyms", headers=BEARER, json={"text": "knapsack => backpack"})
        assert created.status_code == 201
        return created.get_json()["id"]

    def judged(self, queries=("wireless mouse", "usb hub", "backpack")) -> None:
        grades = self.request.getfixturevalue("judgments")
        rows = "".join(f"{q},{p},{int(g)}\n" for q in queries for p, g in grades[q].items())
        imported = self.shop.post("/workbench/api/judgments.csv", headers=BEARER, data=CSV + rows,
                                  content_type="text/csv")
        assert imported.status_code == 200


EXCHANGES = []


def exchange(method: str, path: str, status: int, name: str = ""):
    """Registers a function that makes one real request of this operation, answered with status."""
    def register(make):
        label = f"{method.upper()} {path} {status}" + (f" {name}" if name else "")
        EXCHANGES.append(pytest.param(method, path, status, make, id=label))
        return make
    return register


# GET /search

@exchange("get", "/search", 200, "everything a shopper can ask for")
def get_search_200(c):
    response = c.shop.get("/search", query_string={
        "q": "wireless mouse", "k": 5, "explain": "true", "highlight": "true", "facets": FACETS,
        "sort": "price_asc", "attr.product_colour": "Black", "attr.weight_max": 1000, "user": "shopper-1",
        "session": "s-1", "price_buckets": "10,20,50", "facet_size": 3})
    body = response.get_json()
    assert body["results"] and body["search_id"] and body["filters"]["attr.product_colour"] == ["black"]
    assert {f["type"] for f in body["facets"].values()} == {"values", "range"} and len(body["facets"]) == 5
    assert all("highlight" in hit and "explain" in hit for hit in body["results"])
    assert body["explain"]["fusion"] and body["explain"]["understood"]["similar_types"]
    return response


@exchange("get", "/search", 200, "ranker, preference model and merchandising")
def get_search_200_2(c):
    response = c.full.get("/search", query_string={"q": "hdmi cable", "user": "fan", "explain": "1", "k": 20})
    body = response.get_json()
    assert body["ranked_by"] and body["personalized_by"]
    explained = [hit["explain"] for hit in body["results"]]
    assert all("relevance" in e and "personalization" in e for e in explained)
    assert any("merchandising" in e for e in explained)
    return response


@exchange("get", "/search", 200, "keyword mode, paged, no extras")
def get_search_200_3(c):
    response = c.shop.get("/search", query_string={"q": "usb hub", "mode": "keyword", "offset": 2, "k": 3,
                                                   "explain": "true", "brand": ["StarTech.com", "Belkin"]})
    assert response.get_json()["explain"]["fusion"] is None
    return response


@exchange("get", "/search", 400, "bad k")
def get_search_400(c):
    return c.shop.get("/search", query_string={"q": "mouse", "k": 0})


@exchange("get", "/search", 400, "no q")
def get_search_400_2(c):
    return c.shop.get("/search")


@exchange("get", "/search", 400, "an attribute the catalog lacks")
def get_search_400_3(c):
    response = c.shop.get("/search", query_string={"q": "mouse", "facets": "attr.nothing"})
    assert response.get_json()["error"]["parameter"] == "facets"
    return response


# products, events, health, the document

@exchange("get", "/products/{product_id}", 200)
def get_products_product_id_200(c):
    return c.shop.get(f"/products/{c.product_id()}")


@exchange("get", "/products/{product_id}", 404)
def get_products_product_id_404(c):
    return c.shop.get("/products/no-such-product")


@exchange("get", "/products/{product_id}/similar", 200)
def get_products_product_id_similar_200(c):
    response = c.shop.get(f"/products/{c.product_id()}/similar", query_string={"k": 4})
    assert len(response.get_json()["results"]) == 4
    return response


@exchange("get", "/products/{product_id}/similar", 400)
def get_products_product_id_similar_400(c):
    return c.shop.get(f"/products/{c.product_id()}/similar", query_string={"k": 101})


@exchange("get", "/recommendations/for-you", 200)
def get_recommendations_for_you_200(c):
    response = c.shop.get("/recommendations/for-you", query_string={"user": "nobody", "k": 3, "explain": "true"})
    assert response.get_json()["source"] == "trending"
    return response


@exchange("get", "/recommendations/for-you", 400)
def get_recommendations_for_you_400(c):
    return c.shop.get("/recommendations/for-you", query_string={"k": 0})


@exchange("get", "/recommendations/trending", 200)
def get_recommendations_trending_200(c):
    return c.shop.get("/recommendations/trending", query_string={"k": 3, "brand": "HP"})


@exchange("get", "/recommendations/trending", 400)
def get_recommendations_trending_400(c):
    return c.shop.get("/recommendations/trending", query_string={"attr.nothing": "x"})


@exchange("get", "/products/{product_id}/bought-together", 200)
def get_products_product_id_bought_together_200(c):
    return c.shop.get(f"/products/{c.product_id()}/bought-together", query_string={"explain": "true"})


@exchange("get", "/products/{product_id}/bought-together", 400)
def get_products_product_id_bought_together_400(c):
    return c.shop.get(f"/products/{c.product_id()}/bought-together", query_string={"k": "many"})


@exchange("get", "/products/{product_id}/bought-together", 404)
def get_products_product_id_bought_together_404(c):
    return c.shop.get("/products/no-such-product/bought-together")


@exchange("get", "/products/{product_id}/similar", 404)
def get_products_product_id_similar_404(c):
    return c.shop.get("/products/no-such-product/similar")


def _events(c, product_id: str):
    known = c.product_id()
    return [{"user_id": "u1", "session_id": "s1", "timestamp": "2026-09-01T10:00:00Z", "type": "search",
             "query": "hdmi cable", "shown": [known], "search_id": "x1"},
            {"user_id": "u1", "session_id": "s1", "timestamp": 1788220805, "type": "click",
             "product_id": product_id, "position": 1, "search_id": "x1"}]


@exchange("post", "/events", 201, "an object, skipping an unknown product")
def post_events_201(c):
    response = c.shop.post("/events?skip_unknown=true", json={"events": _events(c, "no-such-product")})
    assert response.get_json()["skipped"] == [{"index": 1, "product_id": "no-such-product"}]
    return response


@exchange("post", "/events", 201, "a bare list")
def post_events_201_2(c):
    return c.shop.post("/events", json=_events(c, c.product_id()))


@exchange("post", "/events", 400, "an invalid event")
def post_events_400(c):
    response = c.shop.post("/events", json={"events": [{"type": "click", "user_id": "u1"}]})
    assert response.get_json()["error"]["details"]
    return response


@exchange("post", "/events", 400, "an unknown product")
def post_events_400_2(c):
    return c.shop.post("/events", json=_events(c, "no-such-product"))


@exchange("get", "/suggest", 200)
def get_suggest_200(c):
    response = c.shop.get("/suggest", query_string={"q": "hdmi ca", "k": 3})
    assert response.get_json()["suggestions"] and response.get_json()["products"]
    return response


@exchange("get", "/suggest", 400, "a blank prefix")
def get_suggest_400(c):
    return c.shop.get("/suggest", query_string={"q": "  "})


@exchange("get", "/health", 200)
def get_health_200(c):
    return c.shop.get("/health")


@exchange("get", "/metrics", 200)
def get_metrics_200(c):
    return c.shop.get("/metrics")


@exchange("get", "/openapi.json", 200)
def get_openapi_json_200(c):
    return c.shop.get("/openapi.json")


# /admin

@exchange("post", "/admin/products", 200)
def post_admin_products_200(c):
    existing = c.writable.get(f"/products/{c.product_id(c.writable)}").get_json()
    new = {"id": "new-1", "title": "Zorbix quantum espresso grinder", "brand": "Zorbix", "price": "89.90",
           "attributes": {"product_colour": "Black"}}
    response = c.writable.post("/admin/products", headers=BEARER,
                               json={"products": [new, {**existing, "title": existing["title"] + " (new)"}]})
    assert response.get_json()["added"] == ["new-1"] and response.get_json()["updated"] == [existing["id"]]
    return response


@exchange("post", "/admin/products", 400)
def post_admin_products_400(c):
    return c.shop.post("/admin/products", headers=BEARER, json={"products": [{"id": "x"}]})


@exchange("post", "/admin/products", 401)
def post_admin_products_401(c):
    return c.shop.post("/admin/products", json={"products": [{"id": "x", "title": "y"}]})


@exchange("post", "/admin/products/delete", 200)
def post_admin_products_delete_200(c):
    return c.writable.post("/admin/products/delete", headers=BEARER, json={"ids": [c.product_id(c.writable), "nope"]})


@exchange("post", "/admin/products/delete", 400)
def post_admin_products_delete_400(c):
    return c.shop.post("/admin/products/delete", headers=BEARER, json={"ids": []})


@exchange("delete", "/admin/products/{product_id}", 200)
def delete_admin_products_product_id_200(c):
    return c.writable.delete(f"/admin/products/{c.product_id(c.writable)}", headers=BEARER)


@exchange("delete", "/admin/products/{product_id}", 404)
def delete_admin_products_product_id_404(c):
    return c.writable.delete("/admin/products/no-such-product", headers=BEARER)


@exchange("delete", "/admin/products/{product_id}", 401)
def delete_admin_products_product_id_401(c):
    return c.shop.delete(f"/admin/products/{c.product_id()}", headers={"Authorization": "Bearer wrong"})


@exchange("post", "/admin/reload", 200)
def post_admin_reload_200(c):
    return c.shop.post("/admin/reload", headers=BEARER)


@exchange("post", "/admin/reload", 401)
def post_admin_reload_401(c):
    return c.shop.post("/admin/reload")


@exchange("get", "/admin/status", 200)
def get_admin_status_200(c):
    return c.shop.get("/admin/status", headers=BEARER)


@exchange("get", "/admin/status", 403, "no admin token configured")
def get_admin_status_403(c):
    return c.disabled.get("/admin/status", headers=BEARER)


@exchange("get", "/admin/rules", 200, "with the workbench cookie")
def get_admin_rules_200(c):
    client, _ = c.logged_in()
    c.rule()
    return client.get("/admin/rules")


@exchange("get", "/admin/rules", 401)
def get_admin_rules_401(c):
    return c.shop.get("/admin/rules")


@exchange("post", "/admin/rules", 201)
def post_admin_rules_201(c):
    return c.shop.post("/admin/rules", headers=BEARER, json={
        "query": "hdmi cable", "match": "contains", "action": "pin", "product_id": c.product_id(), "position": 2})


@exchange("post", "/admin/rules", 201, "from the workbench, with the CSRF header")
def post_admin_rules_201_2(c):
    client, csrf = c.logged_in()
    return client.post("/admin/rules", headers={"X-CSRF-Token": csrf},
                       json={"query": "usb hub", "action": "boost", "category": "usb hub", "brand": ""})


@exchange("post", "/admin/rules", 400)
def post_admin_rules_400(c):
    return c.shop.post("/admin/rules", headers=BEARER, json={"query": "x", "action": "bury", "colour": "red"})


@exchange("post", "/admin/rules", 403, "from the workbench, without the CSRF header")
def post_admin_rules_403(c):
    client, _ = c.logged_in()
    return client.post("/admin/rules", json={"query": "usb hub", "action": "bury", "brand": "Belkin"})


@exchange("put", "/admin/rules/{rule_id}", 200)
def put_admin_rules_rule_id_200(c):
    return c.shop.put(f"/admin/rules/{c.rule()}", headers=BEARER,
                      json={"query": "usb hub", "action": "boost", "brand": "Belkin", "match": "contains"})


@exchange("put", "/admin/rules/{rule_id}", 400)
def put_admin_rules_rule_id_400(c):
    return c.shop.put(f"/admin/rules/{c.rule()}", headers=BEARER, json={"query": "usb hub", "action": "boost"})


@exchange("put", "/admin/rules/{rule_id}", 404)
def put_admin_rules_rule_id_404(c):
    return c.shop.put("/admin/rules/999", headers=BEARER, json={"query": "x", "action": "bury", "brand": "HP"})


@exchange("delete", "/admin/rules/{rule_id}", 200)
def delete_admin_rules_rule_id_200(c):
    return c.shop.delete(f"/admin/rules/{c.rule()}", headers=BEARER)


@exchange("delete", "/admin/rules/{rule_id}", 404)
def delete_admin_rules_rule_id_404(c):
    return c.shop.delete("/admin/rules/999", headers=BEARER)


@exchange("delete", "/admin/shoppers/{user_id}", 200)
def delete_admin_shoppers_user_id_200(c):
    assert c.shop.get("/search", query_string={"q": "usb hub", "user": "to-forget"}).status_code == 200
    response = c.shop.delete("/admin/shoppers/to-forget", headers=BEARER)
    assert response.get_json()["events_deleted"] == 1
    return response


@exchange("delete", "/admin/shoppers/{user_id}", 400)
def delete_admin_shoppers_user_id_400(c):
    return c.shop.delete("/admin/shoppers/" + "x" * 201, headers=BEARER)


@exchange("delete", "/admin/shoppers/{user_id}", 401)
def delete_admin_shoppers_user_id_401(c):
    return c.shop.delete("/admin/shoppers/anyone")


@exchange("get", "/admin/analytics", 200)
def get_admin_analytics_200(c):
    assert c.shop.get("/search", query_string={"q": "usb hub", "user": "analysed"}).status_code == 200
    response = c.shop.get("/admin/analytics", headers=BEARER)
    assert response.get_json()["searches"] >= 1
    return response


@exchange("get", "/admin/analytics", 400)
def get_admin_analytics_400(c):
    return c.shop.get("/admin/analytics?from=yesterday", headers=BEARER)


@exchange("get", "/admin/analytics", 401)
def get_admin_analytics_401(c):
    return c.shop.get("/admin/analytics")


EXPERIMENT = {"name": "hybrid against keyword", "variants": [
    {"name": "control", "share": 0.5, "config": {}}, {"name": "keyword", "share": 0.5, "config": {"mode": "keyword"}}]}
LATER = {"start": "2100-01-01T00:00:00Z", "stop": "2100-02-01T00:00:00Z"}


def experiment_id(c, **extra) -> int:
    created = c.shop.post("/admin/experiments", headers=BEARER, json={**EXPERIMENT, **extra})
    assert created.status_code == 201, created.get_json()
    return created.get_json()["id"]


@exchange("get", "/admin/experiments", 200)
def get_admin_experiments_200(c):
    experiment_id(c, kind="interleaving", traffic=0.5,
                  variants=[{"name": v["name"], "config": v["config"]} for v in EXPERIMENT["variants"]])
    return c.shop.get("/admin/experiments", headers=BEARER)


@exchange("get", "/admin/experiments", 401)
def get_admin_experiments_401(c):
    return c.shop.get("/admin/experiments")


@exchange("post", "/admin/experiments", 201)
def post_admin_experiments_201(c):
    return c.shop.post("/admin/experiments", headers=BEARER, json=EXPERIMENT)


@exchange("post", "/admin/experiments", 400)
def post_admin_experiments_400(c):
    return c.shop.post("/admin/experiments", headers=BEARER, json={**EXPERIMENT, "metric": "joy"})


@exchange("post", "/admin/experiments", 409)
def post_admin_experiments_409(c):
    experiment_id(c)
    return c.shop.post("/admin/experiments", headers=BEARER, json=EXPERIMENT)


@exchange("get", "/admin/experiments/{experiment_id}", 200)
def get_admin_experiments_experiment_id_200(c):
    return c.shop.get(f"/admin/experiments/{experiment_id(c)}", headers=BEARER)


@exchange("get", "/admin/experiments/{experiment_id}", 404)
def get_admin_experiments_experiment_id_404(c):
    return c.shop.get("/admin/experiments/999", headers=BEARER)


@exchange("put", "/admin/experiments/{experiment_id}", 200)
def put_admin_experiments_experiment_id_200(c):
    return c.shop.put(f"/admin/experiments/{experiment_id(c, **LATER)}", headers=BEARER,
                      json={**EXPERIMENT, **LATER, "name": "renamed"})


@exchange("put", "/admin/experiments/{experiment_id}", 400)
def put_admin_experiments_experiment_id_400(c):
    return c.shop.put(f"/admin/experiments/{experiment_id(c, **LATER)}", headers=BEARER,
                      json={**EXPERIMENT, "alpha": 2})


@exchange("put", "/admin/experiments/{experiment_id}", 404)
def put_admin_experiments_experiment_id_404(c):
    return c.shop.put("/admin/experiments/999", headers=BEARER, json=EXPERIMENT)


@exchange("put", "/admin/experiments/{experiment_id}", 409)
def put_admin_experiments_experiment_id_409(c):
    return c.shop.put(f"/admin/experiments/{experiment_id(c)}", headers=BEARER, json=EXPERIMENT)


@exchange("post", "/admin/experiments/{experiment_id}/stop", 200)
def post_admin_experiments_experiment_id_stop_200(c):
    return c.shop.post(f"/admin/experiments/{experiment_id(c)}/stop", headers=BEARER)


@exchange("post", "/admin/experiments/{experiment_id}/stop", 404)
def post_admin_experiments_experiment_id_stop_404(c):
    return c.shop.post("/admin/experiments/999/stop", headers=BEARER)


@exchange("post", "/admin/experiments/{experiment_id}/stop", 409)
def post_admin_experiments_experiment_id_stop_409(c):
    return c.shop.post(f"/admin/experiments/{experiment_id(c, **LATER)}/stop", headers=BEARER)


@exchange("delete", "/admin/experiments/{experiment_id}", 200)
def delete_admin_experiments_experiment_id_200(c):
    return c.shop.delete(f"/admin/experiments/{experiment_id(c)}", headers=BEARER)


@exchange("delete", "/admin/experiments/{experiment_id}", 404)
def delete_admin_experiments_experiment_id_404(c):
    return c.shop.delete("/admin/experiments/999", headers=BEARER)


@exchange("get", "/admin/experiments/{experiment_id}/results", 200, "an A/B test")
def get_admin_experiments_experiment_id_results_200(c):
    running = experiment_id(c)
    for user in ("u1", "u2", "u3", "u4", "u5", "u6"):
        served = c.shop.get("/search", query_string={"q": "usb hub", "user": user})
        assert served.get_json()["experiment"]["id"] == running
    return c.shop.get(f"/admin/experiments/{running}/results", headers=BEARER)


@exchange("get", "/admin/experiments/{experiment_id}/results", 200, "interleaving")
def get_admin_experiments_experiment_id_results_200_2(c):
    running = experiment_id(c, kind="interleaving",
                            variants=[{"name": v["name"], "config": v["config"]} for v in EXPERIMENT["variants"]])
    for user in ("u1", "u2", "u3"):
        assert c.shop.get("/search", query_string={"q": "usb hub", "user": user}).status_code == 200
    return c.shop.get(f"/admin/experiments/{running}/results", headers=BEARER)


@exchange("get", "/admin/experiments/{experiment_id}/results", 404)
def get_admin_experiments_experiment_id_results_404(c):
    return c.shop.get("/admin/experiments/999/results", headers=BEARER)


@exchange("get", "/admin/synonyms", 200)
def get_admin_synonyms_200(c):
    c.synonym()
    return c.shop.get("/admin/synonyms", headers=BEARER)


@exchange("get", "/admin/synonyms", 401)
def get_admin_synonyms_401(c):
    return c.shop.get("/admin/synonyms")


@exchange("post", "/admin/synonyms", 201)
def post_admin_synonyms_201(c):
    return c.shop.post("/admin/synonyms", headers=BEARER, json={"text": "tv, television, telly"})


@exchange("post", "/admin/synonyms", 400, "an unknown format")
def post_admin_synonyms_400(c):
    return c.shop.post("/admin/synonyms", headers=BEARER, json={"text": "tv -> television"})


@exchange("put", "/admin/synonyms/{rule_id}", 200)
def put_admin_synonyms_rule_id_200(c):
    return c.shop.put(f"/admin/synonyms/{c.synonym()}", headers=BEARER, json={"text": "knapsack, backpack"})


@exchange("put", "/admin/synonyms/{rule_id}", 400)
def put_admin_synonyms_rule_id_400(c):
    return c.shop.put(f"/admin/synonyms/{c.synonym()}", headers=BEARER, json={"text": "a => b => c"})


@exchange("put", "/admin/synonyms/{rule_id}", 404)
def put_admin_synonyms_rule_id_404(c):
    return c.shop.put("/admin/synonyms/999", headers=BEARER, json={"text": "a, b"})


@exchange("delete", "/admin/synonyms/{rule_id}", 200)
def delete_admin_synonyms_rule_id_200(c):
    return c.shop.delete(f"/admin/synonyms/{c.synonym()}", headers=BEARER)


@exchange("delete", "/admin/synonyms/{rule_id}", 404)
def delete_admin_synonyms_rule_id_404(c):
    return c.shop.delete("/admin/synonyms/999", headers=BEARER)


@exchange("get", "/admin/suggestions/rules", 200)
def get_admin_suggestions_rules_200(c):
    c.suggestion_rule()
    return c.shop.get("/admin/suggestions/rules", headers=BEARER)


@exchange("get", "/admin/suggestions/rules", 401)
def get_admin_suggestions_rules_401(c):
    return c.shop.get("/admin/suggestions/rules")


@exchange("post", "/admin/suggestions/rules", 201)
def post_admin_suggestions_rules_201(c):
    return c.shop.post("/admin/suggestions/rules", headers=BEARER, json={"text": "hdmi cable", "action": "pin"})


@exchange("post", "/admin/suggestions/rules", 400)
def post_admin_suggestions_rules_400(c):
    return c.shop.post("/admin/suggestions/rules", headers=BEARER, json={"text": "x", "action": "hide"})


@exchange("put", "/admin/suggestions/rules/{rule_id}", 200)
def put_admin_suggestions_rules_rule_id_200(c):
    return c.shop.put(f"/admin/suggestions/rules/{c.suggestion_rule()}", headers=BEARER,
                      json={"text": "usb", "action": "block", "match": "contains"})


@exchange("put", "/admin/suggestions/rules/{rule_id}", 400)
def put_admin_suggestions_rules_rule_id_400(c):
    return c.shop.put(f"/admin/suggestions/rules/{c.suggestion_rule()}", headers=BEARER, json={"action": "block"})


@exchange("put", "/admin/suggestions/rules/{rule_id}", 404)
def put_admin_suggestions_rules_rule_id_404(c):
    return c.shop.put("/admin/suggestions/rules/999", headers=BEARER, json={"text": "x", "action": "block"})


@exchange("delete", "/admin/suggestions/rules/{rule_id}", 200)
def delete_admin_suggestions_rules_rule_id_200(c):
    return c.shop.delete(f"/admin/suggestions/rules/{c.suggestion_rule()}", headers=BEARER)


@exchange("delete", "/admin/suggestions/rules/{rule_id}", 404)
def delete_admin_suggestions_rules_rule_id_404(c):
    return c.shop.delete("/admin/suggestions/rules/999", headers=BEARER)


# /workbench: the page and its login

@exchange("get", "/workbench", 200)
def get_workbench_200(c):
    client, _ = c.logged_in()
    return client.get("/workbench")


@exchange("get", "/workbench", 401)
def get_workbench_401(c):
    return c.shop.get("/workbench?q=usb+hub")


@exchange("get", "/workbench", 403)
def get_workbench_403(c):
    return c.disabled.get("/workbench")


@exchange("post", "/workbench/login", 303)
def post_workbench_login_303(c):
    response = c.shop.post("/workbench/login", data={"token": TOKEN, "next": "/workbench?q=usb+hub"})
    assert response.headers["Location"] == "/workbench?q=usb+hub"
    return response


@exchange("post", "/workbench/login", 401)
def post_workbench_login_401(c):
    return c.shop.post("/workbench/login", data={"token": "wrong"})


@exchange("post", "/workbench/login", 403)
def post_workbench_login_403(c):
    return c.disabled.post("/workbench/login", data={"token": TOKEN})


@exchange("post", "/workbench/logout", 303)
def post_workbench_logout_303(c):
    client, _ = c.logged_in()
    return client.post("/workbench/logout")


# /workbench/api

@exchange("get", "/workbench/api/options", 200)
def get_workbench_api_options_200(c):
    c.shop.post("/events", json=_events(c, c.product_id()))  # a known shopper to list
    response = c.shop.get("/workbench/api/options", headers=BEARER)
    assert response.get_json()["users"]
    return response


@exchange("get", "/workbench/api/options", 200, "with a ranker and a preference model")
def get_workbench_api_options_200_2(c):
    response = c.full.get("/workbench/api/options", headers=BEARER)
    assert response.get_json()["ranker"] and response.get_json()["personalization"]
    return response


@exchange("get", "/workbench/api/options", 401)
def get_workbench_api_options_401(c):
    return c.shop.get("/workbench/api/options")


@exchange("post", "/workbench/api/compare", 200)
def post_workbench_api_compare_200(c):
    c.shop.post("/workbench/api/judgments", headers=BEARER,
                json={"query": "wireless mouse", "product_id": c.product_id(), "rating": 1})
    return c.shop.post("/workbench/api/compare", headers=BEARER, json={
        "q": "wireless mouse", "k": 10, "brand": ["Logitech", "HP"], "price_max": 80, "sort": "price_desc",
        "attr": {"connectivity_technology": ["Wireless"]},
        "a": {"mode": "hybrid", "fusion": "linear", "dense_weight": "0.4"}, "b": {"mode": "keyword", "name": ""}})


@exchange("post", "/workbench/api/compare", 200, "a shopper and the ranker against anonymous")
def post_workbench_api_compare_200_2(c):
    return c.full.post("/workbench/api/compare", headers=BEARER, json={
        "q": "hdmi cable", "k": 6, "a": {"mode": "hybrid", "user": "fan", "ranker": True}, "b": {"mode": "dense"}})


@exchange("post", "/workbench/api/compare", 400)
def post_workbench_api_compare_400(c):
    return c.shop.post("/workbench/api/compare", headers=BEARER, json={"q": "hdmi cable", "b": {"mode": "semantic"}})


@exchange("get", "/workbench/api/judgments", 200, "one query")
def get_workbench_api_judgments_200(c):
    c.judged()
    return c.shop.get("/workbench/api/judgments", query_string={"query": "usb hub"}, headers=BEARER)


@exchange("get", "/workbench/api/judgments", 200, "every query")
def get_workbench_api_judgments_200_2(c):
    c.judged()
    return c.shop.get("/workbench/api/judgments", headers=BEARER)


@exchange("get", "/workbench/api/judgments", 401)
def get_workbench_api_judgments_401(c):
    return c.shop.get("/workbench/api/judgments", headers={"Authorization": "Basic x"})


@exchange("post", "/workbench/api/judgments", 200)
def post_workbench_api_judgments_200(c):
    return c.shop.post("/workbench/api/judgments", headers=BEARER,
                       json={"query": "hdmi cable", "product_id": c.product_id(), "rating": 3})


@exchange("post", "/workbench/api/judgments", 400)
def post_workbench_api_judgments_400(c):
    return c.shop.post("/workbench/api/judgments", headers=BEARER,
                       json={"query": "hdmi cable", "product_id": c.product_id(), "rating": 4})


@exchange("delete", "/workbench/api/judgments", 200)
def delete_workbench_api_judgments_200(c):
    c.judged()
    judged = min(c.request.getfixturevalue("judgments")["usb hub"])
    return c.shop.delete("/workbench/api/judgments", headers=BEARER, json={"query": "usb hub", "product_id": judged})


@exchange("delete", "/workbench/api/judgments", 404)
def delete_workbench_api_judgments_404(c):
    return c.shop.delete("/workbench/api/judgments", headers=BEARER, json={"query": "x", "product_id": "y"})


@exchange("get", "/workbench/api/judgments.csv", 200)
def get_workbench_api_judgments_csv_200(c):
    c.judged()
    return c.shop.get("/workbench/api/judgments.csv", headers=BEARER)


@exchange("get", "/workbench/api/judgments.csv", 401)
def get_workbench_api_judgments_csv_401(c):
    return c.shop.get("/workbench/api/judgments.csv")


@exchange("post", "/workbench/api/judgments.csv", 200, "a form upload")
def post_workbench_api_judgments_csv_200(c):
    upload = CSV + f"usb hub,{c.product_id()},2\n"
    return c.shop.post("/workbench/api/judgments.csv", headers=BEARER,
                       data={"file": (io.BytesIO(upload.encode()), "marks.csv")})


@exchange("post", "/workbench/api/judgments.csv", 400)
def post_workbench_api_judgments_csv_400(c):
    return c.shop.post("/workbench/api/judgments.csv", headers=BEARER, data=CSV + "usb hub,1,seven\n",
                       content_type="text/csv")


@exchange("post", "/workbench/api/evaluate", 200)
def post_workbench_api_evaluate_200(c):
    c.judged()
    response = c.shop.post("/workbench/api/evaluate", headers=BEARER, json={"configurations": [
        {"name": "A", "mode": "hybrid", "fusion": "linear", "dense_weight": 0.4}, "keyword", "hybrid-rrf"]})
    assert {"compared", "per_query", "better", "worse"} <= set(response.get_json())
    return response


@exchange("post", "/workbench/api/evaluate", 200, "one configuration")
def post_workbench_api_evaluate_200_2(c):
    c.judged(("usb hub",))
    return c.shop.post("/workbench/api/evaluate", headers=BEARER, json={"configurations": ["dense"]})


@exchange("post", "/workbench/api/evaluate", 400, "no marks yet")
def post_workbench_api_evaluate_400(c):
    return c.shop.post("/workbench/api/evaluate", headers=BEARER, json={"configurations": ["keyword"]})


def check_against_document(document, app, method: str, path: str, response) -> None:
    """The response's status, content type and (JSON) body as the document describes them; and
    for a success, the JSON body sent as its request body schema describes it."""
    rule, _ = app.url_map.bind("localhost").match(response.request.path, method.upper(), return_rule=True)
    assert flask_path(rule.rule) == path
    operation = document["paths"][path][method]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method.upper()} {path} answered an undocumented {status}"
    described = operation["responses"][status]
    content = described.get("content")
    if content is None:
        assert not response.data.strip() or response.mimetype == "text/html"  # a redirect's stub page
        for header in described.get("headers", {}):
            assert header in response.headers
        return
    assert response.mimetype in content, f"{response.mimetype} is not among {list(content)}"
    if response.mimetype == "application/json":
        validator(document, "paths", path, method, "responses", status, "content", "application/json",
                  "schema").validate(response.get_json())
    if response.status_code < 400 and getattr(response, "sent_json", None) is not None:
        validator(document, "paths", path, method, "requestBody", "content", "application/json",
                  "schema").validate(response.sent_json)
    parameters = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
    exploded = [p["schema"] for p in parameters.values() if p.get("explode") and p["schema"]["type"] == "object"]
    for name in response.request.args:  # a named parameter, or a property of an exploded object
        assert name in parameters or any(schema.get("additionalProperties", True) or any(
            re.search(pattern, name) for pattern in schema.get("patternProperties", {})) for schema in exploded), name


@pytest.mark.parametrize("method, path, status, make", EXCHANGES)
def test_real_responses_validate_against_the_document(request, document, method, path, status, make):
    response = make(Clients(request))
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    check_against_document(document, response.app, method, path, response)


NO_ERROR_RESPONSE = {("get", "/health"), ("get", "/openapi.json"), ("get", "/metrics"), ("post", "/workbench/logout")}


def test_every_operation_is_exercised_with_a_success_and_an_error(document):
    exercised = {}
    for param in EXCHANGES:
        method, path, status, _ = param.values
        exercised.setdefault((path, method), set()).add(status)
    assert set(exercised) == documented_operations(document)
    for (path, method), statuses in exercised.items():
        documented = {int(s) for s in document["paths"][path][method]["responses"]}
        assert statuses <= documented and any(s < 400 for s in statuses), (method, path)
        if (method, path) in NO_ERROR_RESPONSE:
            assert all(s < 400 for s in documented), f"{method} {path} documents an error now: exercise it"
        else:
            assert any(s >= 400 for s in statuses), f"{method.upper()} {path}: no error response exercised"


def test_errors_outside_the_routes_are_error_responses_too(client, document):
    check = validator(document, "components", "schemas", "ErrorResponse")
    for response, status in ((client.get("/no-such-path"), 404), (client.post("/health"), 405),
                             (client.get("/events"), 405)):
        assert response.status_code == status
        check.validate(response.get_json())


def test_an_undocumented_field_fails_validation(client, document):
    body = client.get("/search", query_string={"q": "usb hub", "explain": "true", "highlight": "true",
                                               "facets": FACETS}).get_json()
    schema = ("paths", "/search", "get", "responses", "200", "content", "application/json", "schema")
    validator(document, *schema).validate(body)
    for change in (lambda b: b.update(surprise=1),
                   lambda b: b["results"][0].update(popularity=0.5),
                   lambda b: b["results"][0]["explain"]["dense"].update(distance=0.1),
                   lambda b: b["facets"]["price"].update(mean=12.0),
                   lambda b: b["facets"].update(colour=b["facets"]["brand"]),
                   lambda b: b["filters"].update(colour=["red"]),
                   lambda b: b["explain"]["understood"].update(intent="buy")):
        changed = copy.deepcopy(body)
        change(changed)
        with pytest.raises(ValidationError):
            validator(document, *schema).validate(changed)
