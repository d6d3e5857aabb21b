"""The HTTP API through Flask's test client, over the real slice index."""
import pytest

pytestmark = pytest.mark.slow


def test_search_returns_ranked_products(client):
    response = client.get("/search?q=wireless+mouse&k=5")
    assert response.status_code == 200
    body = response.get_json()
    assert body["query"] == "wireless mouse" and body["mode"] == "hybrid"
    assert len(body["results"]) == 5
    assert [r["rank"] for r in body["results"]] == [1, 2, 3, 4, 5]
    assert {"id", "title", "brand", "category", "price", "score"} <= set(body["results"][0])
    assert "explain" not in body["results"][0]


def test_explain_shows_every_stage(client):
    body = client.get("/search?q=usb+hub&explain=true").get_json()
    first = body["results"][0]["explain"]
    assert set(first) == {"dense", "keyword", "fused"}
    assert first["fused"]["score"] == pytest.approx(body["results"][0]["score"], abs=1e-6)
    assert body["explain"]["fusion"]["method"] in ("linear", "rrf")
    assert any(r["explain"]["dense"]["rank"] for r in body["results"])
    assert any(r["explain"]["keyword"]["rank"] for r in body["results"])


@pytest.mark.parametrize("mode", ["keyword", "dense", "hybrid"])
def test_modes(client, mode):
    body = client.get(f"/search?q=backpack&mode={mode}&explain=1").get_json()
    assert body["mode"] == mode and body["results"]
    first = body["results"][0]["explain"]
    if mode == "keyword":
        assert first["dense"]["rank"] is None
    if mode == "dense":
        assert first["keyword"]["rank"] is None


def test_filters_and_paging(client, engine):
    brand = "StarTech.com"  # the slice's most common brand among its cables
    body = client.get("/search", query_string={"q": "cable", "brand": brand, "price_max": 100,
                                                "k": 3, "offset": 2}).get_json()
    assert body["total"] >= 5
    assert body["offset"] == 2 and [r["rank"] for r in body["results"]] == [3, 4, 5]
    assert all(r["brand"] == brand and r["price"] <= 100 for r in body["results"])
    assert body["filters"]["brand"] == [brand.lower()]
    # A price written with a decimal comma reads as the catalog's prices do
    assert client.get("/search", query_string={"q": "cable", "price_max": "4,5"}).get_json()["filters"][
        "price_max"] == 4.5


@pytest.mark.parametrize("query,parameter,fragment", [
    ("", "q", "required"),
    ("q=+++", "q", "required"),
    ("q=mouse&k=0", "k", "between 1 and 100"),
    ("q=mouse&k=101", "k", "between 1 and 100"),
    ("q=mouse&k=ten", "k", "integer"),
    ("q=mouse&k=1_0", "k", "integer"),  # int() reads these three; a parameter does not
    ("q=mouse&k=%201%20", "k", "integer"),
    ("q=mouse&k=%D9%A3", "k", "integer"),
    ("q=mouse&k=" + "9" * 5000, "k", "between 1 and 100"),  # int() refuses so many digits
    ("q=mouse&offset=-1", "offset", "between"),
    ("q=mouse&mode=semantic", "mode", "keyword, dense, hybrid"),
    ("q=mouse&price_min=-5", "price_min", "negative"),
    ("q=mouse&price_max=abc", "price_max", "number"),
    ("q=mouse&price_max=inf", "price_max", "finite"),
    ("q=mouse&price_min=50&price_max=10", "price_min", "above price_max"),
    ("q=mouse&explain=maybe", "explain", "true or false"),
])
def test_bad_input_is_a_400_naming_the_parameter(client, query, parameter, fragment):
    response = client.get(f"/search?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["parameter"] == parameter and fragment in error["message"]


@pytest.mark.parametrize("path,parameter", [
    ("/search?q=mouse&prix_max=4", "prix_max"),  # a misspelt filter would show unfiltered results
    ("/search?q=mouse&pricemax=4&price_max=9", "pricemax"),
    ("/suggest?q=mou&limit=3", "limit"),
    ("/products/{id}/similar?k=3&price_max=40", "price_max"),  # similar products take no filters
    ("/recommendations/trending?k=3&q=mouse", "q"),
    ("/search?q=mouse&=1", ""),  # a parameter with no name is named too, as the empty name it has
])
def test_a_parameter_the_endpoint_does_not_take_is_a_400_naming_it(client, slice_products, path, parameter):
    response = client.get(path.format(id=slice_products[0].id))
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["parameter"] == parameter and "is not a parameter of" in error["message"]


def test_a_parameter_that_is_not_utf8_is_a_400_naming_it(client):
    response = client.get("/search?q=caf%E9")  # a Latin-1 client's "café"
    assert response.status_code == 400 and response.get_json()["error"]["parameter"] == "q"
    assert "%C3%A9" in response.get_json()["error"]["message"]
    assert client.get("/search?q=caf%C3%A9").status_code == 200  # UTF-8, as browsers send it
    assert client.get("/suggest?q=b%FCro").get_json()["error"]["parameter"] == "q"


def test_a_path_that_is_not_utf8_is_a_400_naming_its_variable_and_changes_nothing(client, slice_products):
    """%FF would otherwise be read as "\ufffd": another product's page, or another shopper forgotten."""
    admin = {"Authorization": "Bearer test-token"}
    assert client.post("/events", json={"events": [{"user_id": "\ufffd", "session_id": "s", "timestamp": 1788220800,
                                                    "type": "view", "product_id": slice_products[0].id}]}).status_code == 201
    for method, path, variable in (("GET", "/products/%FF", "product_id"), ("DELETE", "/products/%FF", "product_id"),
                                   ("DELETE", "/shoppers/%FF", "user_id")):
        response = client.open(("/admin" if method == "DELETE" else "") + path, method=method, headers=admin)
        assert response.status_code == 400 and response.get_json()["error"]["parameter"] == variable, path
    forgotten = client.delete("/admin/shoppers/%EF%BF%BD", headers=admin).get_json()  # "\ufffd" sent as UTF-8
    assert forgotten["events_deleted"] == 1  # the rejected request above had left the shopper's event alone


def test_the_parameters_an_endpoint_takes_pass_attribute_filters_and_the_clients_own_included(client, engine):
    facet = engine.index.products.attributes.facets[0]
    response = client.get(f"/search?q=mouse&price_max=40&attr.{facet}=Black&facets=brand&sort=price_asc"
                          "&_=1700000000&utm_source=newsletter")  # a cache buster and a campaign tag
    assert response.status_code == 200, response.get_json()
    assert client.head("/search?q=mouse&prix_max=4").status_code == 400  # HEAD is checked as GET is
    assert client.get("/admin/analytics?x=1").status_code == 401  # not allowed comes first


EVENT = '{"type": "click", "user_id": %s, "session_id": "s1", "timestamp": 1790000000, "product_id": %s%s}'


@pytest.mark.parametrize("body,parameter", [
    ('{"events": [%s]}' % (EVENT % ('"\\ud800"', '"p"', "")), "events[0].user_id"),  # a lone surrogate
    ('{"events": [%s]}' % (EVENT % ('"u"', '"p"', ', "position": ' + "9" * 30)), "position"),  # the event's check
    ('{"events": [%s], "\\udc00": 1}' % (EVENT % ('"u"', '"p"', "")), "body"),  # in a field name
    ("[" * 50_000 + "]" * 50_000, "body"),  # deeper than the parser's recursion
    ('{"events": [%s]}' % (EVENT % ('"u"', '"p"', ', "x": ' + "[" * 500 + "]" * 500)), "events[0].x" + "[0]" * 62),  # depth 65
])
def test_json_a_store_cannot_hold_is_a_400_naming_where_it_is(client, slice_products, body, parameter):
    response = client.post("/events", data=body, content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"]["parameter"] == parameter
    product = slice_products[0].id  # and the store still takes a good event
    good = client.post("/events", data='{"events": [%s]}' % (EVENT % ('"u"', f'"{product}"', "")),
                       content_type="application/json")
    assert good.status_code == 201


def test_product_and_unknown_product(client, slice_products):
    product = slice_products[0]
    body = client.get(f"/products/{product.id}").get_json()
    assert body["id"] == product.id and body["title"] == product.title
    assert body["attributes"] == product.attributes
    missing = client.get("/products/does-not-exist")
    assert missing.status_code == 404
    assert "does-not-exist" in missing.get_json()["error"]["message"]
    assert client.get("/products/does-not-exist/similar").status_code == 404


def test_similar(client, slice_products):
    product = slice_products[0]
    body = client.get(f"/products/{product.id}/similar?k=4").get_json()
    assert len(body["results"]) == 4 and product.id not in [r["id"] for r in body["results"]]
    assert client.get(f"/products/{product.id}/similar?k=0").status_code == 400


def test_health(client, engine, slice_products):
    body = client.get("/health").get_json()
    assert body["status"] == "ok"
    assert body["product_count"] == len(slice_products)
    assert body["index_version"] == engine.index.version
    assert body["model"]["product_tower_fingerprint"] == engine.towers.product.fingerprint


def test_unknown_route_is_json_404(client):
    response = client.get("/nope")
    assert response.status_code == 404 and "error" in response.get_json()
