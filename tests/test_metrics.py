"""GET /metrics: request counts and latencies by endpoint and mode, and the serving state."""
from __future__ import annotations

from tests.conftest import T


def _value(text: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def test_requests_are_counted_by_endpoint_mode_and_status(client):
    before = client.get("/metrics").get_data(as_text=True)
    client.get("/search?q=usb+hub&mode=keyword")
    client.get("/search?q=usb+hub&mode=keyword")
    client.get("/search?q=usb+hub&mode=nonsense")  # a 400; the mode label stays bounded
    client.get("/products/no-such-product")
    client.get("/no/such/route")
    client.open("/search?q=usb", method="FROBNICATE")  # an invented method is no new series
    after = client.get("/metrics")
    assert after.status_code == 200 and after.mimetype == "text/plain"
    text = after.get_data(as_text=True)

    def grew(prefix):
        return _value(text, prefix) - _value(before, prefix)

    assert grew('search_http_requests_total{endpoint="/search",method="GET",status="200"}') == 2
    assert grew('search_http_requests_total{endpoint="/search",method="GET",status="400"}') == 1
    assert grew('search_http_request_duration_seconds_count{endpoint="/search",method="GET",mode="keyword"}') == 2
    assert grew('search_http_request_duration_seconds_count{endpoint="/search",method="GET",mode="invalid"}') == 1
    assert grew('search_http_requests_total{endpoint="/products/<product_id:product_id>",method="GET",status="404"}') == 1
    assert grew('search_http_requests_total{endpoint="unmatched",method="GET",status="404"}') == 1
    assert "no-such-product" not in text and "/no/such/route" not in text and "FROBNICATE" not in text
    assert grew('search_http_requests_total{endpoint="unmatched",method="other",status="405"}') == 1


def test_the_serving_state_is_read_when_scraped(client, engine):
    text = client.get("/metrics").get_data(as_text=True)
    assert f'search_index_info{{version="{engine.index.version}"}} 1.0' in text
    assert _value(text, "search_index_products ") == len(engine.index.snapshot().products)
    assert _value(text, "search_index_update_lag ") == 0
    stored = _value(text, "search_events_stored ")
    click = {"user_id": "u", "session_id": "s", "timestamp": T, "type": "search", "query": "usb hub"}
    assert client.post("/events", json={"events": [click, click]}).status_code == 201
    text = client.get("/metrics").get_data(as_text=True)
    assert _value(text, "search_events_stored ") == stored + 2 and _value(text, "search_events_store_bytes ") > 0
