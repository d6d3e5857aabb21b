"""Online experiments: definitions, assignment, team-draft interleaving, the tally and its
statistics against hand-computed values, serving through /search, and concurrent edits."""
from __future__ import annotations

import math
import random
import sqlite3
import threading
import time
from dataclasses import replace

import pytest

from search_engine.experiments.assignment import assigned, bucket
from search_engine.experiments.definition import INTERLEAVED, ExperimentError, parse_experiment
from search_engine.experiments.interleaving import preference, team_draft
from search_engine.experiments.statistics import (log_likelihood_ratio, ratio_estimate, sequential_test,
                                                  units_needed)
from search_engine.experiments.tally import ExperimentTally
from search_engine.types import Event, Query

AUTH = {"Authorization": "Bearer test-token"}
NOW = 1_790_000_000.0


def definition(kind="ab", **extra):
    variants = [{"name": "control", "config": {}}, {"name": "keyword", "config": {"mode": "keyword"}}]
    if kind == "ab":
        variants[0]["share"], variants[1]["share"] = 0.5, 0.5
    return {"name": "test", "kind": kind, "variants": variants, **extra}


def experiment(kind="ab", experiment_id=1, **extra):
    return replace(parse_experiment(definition(kind, **extra), NOW), id=experiment_id)


# --- assignment --------------------------------------------------------------------------


def test_assignment_is_a_stable_hash_that_honours_the_shares():
    # The hash is sha256, not Python's per-process hash(): the same in every worker and restart.
    assert bucket(1, "u1") == pytest.approx(0.1869647459984351)
    ab = replace(parse_experiment({"name": "x", "variants": [
        {"name": "a", "share": 0.2, "config": {}}, {"name": "b", "share": 0.3, "config": {}}]}, NOW), id=3)
    units = [f"shopper-{i}" for i in range(20_000)]
    first = [assigned(ab, u) for u in units]
    assert first == [assigned(ab, u) for u in units]  # stable
    n = len(units)
    for name, share in (("a", 0.2), ("b", 0.3), (None, 0.5)):  # the rest stays out
        count = first.count(name)
        assert abs(count - share * n) < 4 * math.sqrt(n * share * (1 - share)), (name, count)
    # Another experiment splits the same shoppers independently of this one.
    other = replace(ab, id=4)
    both = sum(1 for u, arm in zip(units, first) if arm == "a" and assigned(other, u) == "a")
    assert abs(both - 0.04 * n) < 4 * math.sqrt(n * 0.04)
    interleaving = replace(parse_experiment(definition("interleaving", traffic=0.25), NOW), id=5)
    share = sum(assigned(interleaving, u) == INTERLEAVED for u in units) / n
    assert abs(share - 0.25) < 0.02 and {assigned(interleaving, u) for u in units} == {INTERLEAVED, None}


# --- definitions ---------------------------------------------------------------------------


@pytest.mark.parametrize("change, field", [
    (lambda d: d.pop("name"), "name"),
    (lambda d: d.update(kind="multi"), "kind"),
    (lambda d: d.update(variants="a,b"), "variants"),
    (lambda d: d.update(variants=d["variants"][:1]), "variants"),
    (lambda d: d["variants"][1].update(share=1.5), "variants[1].share"),
    (lambda d: d["variants"][1].update(share=0), "variants[1].share"),
    (lambda d: d["variants"][1].update(share=0.6), "variants"),  # 0.5 + 0.6 > 1
    (lambda d: d["variants"][1].update(name="control"), "variants[1].name"),
    (lambda d: d["variants"][1].update(name="bad/name"), "variants[1].name"),
    (lambda d: d["variants"][1].update(colour="red"), "variants[1].colour"),
    (lambda d: d["variants"][1]["config"].update(speed=3), "variants[1].config.speed"),
    (lambda d: d["variants"][1]["config"].update(mode="fuzzy"), "variants[1].config.mode"),
    (lambda d: d["variants"][1]["config"].update(dense_weight=2), "variants[1].config.dense_weight"),
    (lambda d: d["variants"][1]["config"].update(fusion="max"), "variants[1].config.fusion"),
    (lambda d: d["variants"][1]["config"].update(rules="no"), "variants[1].config.rules"),
    (lambda d: d.update(start="2026-13-01T00:00:00Z"), "start"),
    (lambda d: d.update(start="2026-12-01T00:00:00"), "start"),  # no time zone
    (lambda d: d.update(start="2026-12-02T00:00:00Z", stop="2026-12-01T00:00:00Z"), "stop"),
    (lambda d: d.update(metric="happiness"), "metric"),
    (lambda d: d.update(minimum_effect=0), "minimum_effect"),
    (lambda d: d.update(alpha=0.5), "alpha"),
    (lambda d: d.update(traffic=0.5), "traffic"),  # an A/B test has shares
    (lambda d: d.update(alpha=10 ** 400), "alpha"),  # math.isfinite() of it raises
    (lambda d: d.update(surprise=1), "surprise"),
])
def test_bad_definitions_name_the_field(change, field):
    raw = definition()
    change(raw)
    with pytest.raises(ExperimentError) as error:
        parse_experiment(raw, NOW)
    assert error.value.field == field


def test_interleaving_definitions_compare_two_variants_by_traffic():
    raw = definition("interleaving")
    raw["variants"].append({"name": "third", "config": {}})
    with pytest.raises(ExperimentError, match="exactly 2"):
        parse_experiment(raw, NOW)
    raw = definition("interleaving")
    raw["variants"][0]["share"] = 0.5
    with pytest.raises(ExperimentError) as error:
        parse_experiment(raw, NOW)
    assert error.value.field == "variants[0].share"
    parsed = parse_experiment(definition("interleaving", traffic=0.3), NOW)
    assert parsed.traffic == 0.3 and parsed.start == NOW and parsed.stop == NOW + 14 * 86400
    # What the store writes is read back the same.
    body = {k: v for k, v in parsed.to_dict().items() if k != "id"}
    assert parse_experiment(body, 0) == parsed


# --- interleaving --------------------------------------------------------------------------


class Coin:
    """A stand-in for random.Random that answers a fixed sequence of coin tosses."""

    def __init__(self, tosses):
        self.tosses = list(tosses)

    def random(self):
        return self.tosses.pop(0)


def test_team_draft_by_hand():
    a = ["p1", "p2", "p3", "p4"]
    b = ["p2", "p5", "p1", "p6"]
    # Round 1: the coin (0.7) lets b pick first: p2; then a: p1. Round 2: the coin (0.2) lets a
    # pick first: p3 (p1, p2 are taken); then b: p5. Round 3: b first (0.9): p6; a: p4.
    merged = team_draft(a, b, 6, Coin([0.7, 0.2, 0.9]))
    assert merged == [("p2", "b"), ("p1", "a"), ("p3", "a"), ("p5", "b"), ("p6", "b"), ("p4", "a")]
    # A team whose ranking runs out lets the other fill the page.
    assert team_draft(["x"], ["y", "z", "w"], 4, Coin([0.1, 0.1])) == [("x", "a"), ("y", "b"), ("z", "b"),
                                                                      ("w", "b")]
    # Identical rankings: every product comes from the list's own order.
    same = team_draft(a, a, 4, random.Random(1))
    assert [p for p, _ in same] == a and sorted(t for _, t in same) == ["a", "a", "b", "b"]


def test_credit_counts_each_product_once_for_its_team():
    team_of = {"p1": "a", "p2": "b", "p3": "a", "p4": "b"}
    assert preference(team_of, ["p2"]) == 1
    assert preference(team_of, ["p1", "p2"]) == 0
    assert preference(team_of, ["p1", "p3", "p2"]) == -1
    assert preference(team_of, ["p2", "p2", "p2", "p1", "p3"]) == -1  # a repeated click counts once
    assert preference(team_of, ["elsewhere"]) == 0


def search_event(user, sid, t, shown, variant, teams=(), experiment_id="1", session=None):
    return Event(user, session or f"s-{user}", t, "search", query="q", search_id=sid, shown=tuple(shown),
                 experiment=experiment_id, variant=variant, teams=tuple(teams))


def outcome(user, kind, t, product, sid=None, session=None):
    return Event(user, session or f"s-{user}", t, kind, product_id=product, search_id=sid)


def test_interleaving_credits_clicks_and_purchases_on_a_hand_made_log():
    log = [
        # u1: two searches. The first: clicks on p1 (a) and p2 (b), a tie; a purchase of p2 (b).
        search_event("u1", "x1", 1, ["p1", "p2", "p3"], INTERLEAVED, "aba"),
        outcome("u1", "click", 2, "p1", "x1"), outcome("u1", "click", 3, "p2", "x1"),
        outcome("u1", "purchase", 4, "p2"),  # names no search: the session's latest that showed p2
        # The second: b's p5 clicked twice (once counted), a win for b.
        search_event("u1", "x2", 5, ["p4", "p5"], INTERLEAVED, "ab"),
        outcome("u1", "click", 6, "p5", "x2"), outcome("u1", "click", 7, "p5", "x2"),
        # u2: one search, a's p7 clicked: a win for a; a click on something never shown is nobody's.
        search_event("u2", "x3", 8, ["p7", "p8"], INTERLEAVED, "ab"),
        outcome("u2", "click", 9, "p7", "x3"), outcome("u2", "click", 9.5, "p9"),
        # Another experiment's search and an outcome before any search are not counted.
        search_event("u3", "x4", 10, ["p1"], INTERLEAVED, "a", experiment_id="2"),
        outcome("u3", "click", 11, "p1", "x4"),
    ]
    results = ExperimentTally(experiment("interleaving"), lambda p: 10.0).add_all(log).results()
    assert results["units"] == 2 and results["searches"] == 3
    assert results["teams"] == {"a": "control", "b": "keyword"}
    clicks = results["clicks"]
    # Preferences: u1: tie (0) and b (+1) over 2 searches; u2: a (-1) over 1. Sum 0 over 3.
    assert clicks["searches_credited"] == 3 and clicks["preference"] == pytest.approx(0.0)
    purchases = results["purchases"]
    assert purchases["searches_credited"] == 1 and purchases["preference"] == pytest.approx(1.0)


def test_ab_tally_matches_the_hand_computed_figures():
    prices = {"p1": 10.0, "p2": 30.0}
    log = [
        search_event("u1", "x1", 1, ["p1", "p2"], "control"),
        outcome("u1", "click", 2, "p1", "x1"), outcome("u1", "click", 3, "p2", "x1"),
        outcome("u1", "purchase", 4, "p1"), outcome("u1", "purchase", 5, "p2", "x1"),
        search_event("u1", "x2", 6, ["p1"], "control"),
        search_event("u2", "x3", 7, ["p2"], "control"),
        outcome("u2", "click", 8, "p2", "x3"),
        search_event("u3", "x4", 9, ["p1", "p2"], "keyword"),
        search_event("u3", "x4", 9, ["p1", "p2"], "keyword"),  # sent twice, counted once
        search_event("u4", "x5", 10, ["p2"], "keyword"),
        outcome("u4", "click", 11, "p2", "x5"), outcome("u4", "purchase", 12, "p2", "x5"),
        search_event("u5", "x6", 13, ["p2"], "nobody"),  # not a variant of this experiment
    ]
    results = ExperimentTally(experiment(), prices.get, look_every=1).add_all(log).results()
    control, variant = results["variants"]
    assert (control["units"], control["searches"], variant["units"], variant["searches"]) == (2, 3, 2, 2)
    # Control: 3 searches, 2 clicked, 1 converted (two purchases, 40.0 of revenue).
    assert control["metrics"]["ctr"]["value"] == pytest.approx(2 / 3)
    assert control["metrics"]["conversion"]["value"] == pytest.approx(1 / 3)
    assert control["metrics"]["revenue_per_search"]["value"] == pytest.approx(40 / 3)
    assert variant["metrics"]["ctr"]["value"] == pytest.approx(1 / 2)
    assert variant["metrics"]["revenue_per_search"]["value"] == pytest.approx(15.0)
    comparison = variant["against_control"]
    assert comparison["difference"] == pytest.approx(1 / 2 - 2 / 3)
    assert comparison["relative"] == pytest.approx((1 / 2 - 2 / 3) / (2 / 3))
    assert comparison["significant"] is False and comparison["more_units_needed"] > 0


# --- statistics ----------------------------------------------------------------------------


def test_delta_method_ratio_by_hand():
    # x = (1, 0, 2), y = (2, 1, 2): R = 3/5; var x = 1, var y = 1/3, cov = 1/2 (n - 1 = 2);
    # var R = (1 - 2 * 0.6 * 0.5 + 0.36 / 3) / (3 * (5/3)^2) = 0.52 * 3 / 25 = 0.0624.
    estimate = ratio_estimate([1, 0, 2], [2, 1, 2])
    assert estimate.value == pytest.approx(0.6) and estimate.variance == pytest.approx(0.0624)
    assert estimate.units == 3
    assert ratio_estimate([1], [2]) is None and ratio_estimate([0, 0], [0, 0]) is None


def test_msprt_by_hand_and_its_interval_edges():
    # d = 0.3, s^2 = 0.01, tau = 0.1: 0.5 * ln(1/2) + 0.01 * 0.09 / (2 * 0.01 * 0.02) = 1.903426
    assert log_likelihood_ratio(0.3, 0.01, 0.1) == pytest.approx(1.903426, abs=1e-6)
    test = sequential_test(0.3, 0.01, 0.1, 0.05)
    assert test.p_value == pytest.approx(math.exp(-1.903426), rel=1e-5) and not test.significant
    low, high = test.interval
    assert low < 0 < high  # not significant: zero is inside
    for edge in (low, high):  # the edges are where the evidence against them reaches 1 / alpha
        assert log_likelihood_ratio(0.3 - edge, 0.01, 0.1) == pytest.approx(math.log(20), rel=1e-9)
    assert sequential_test(0.3, 0.001, 0.1, 0.05).significant
    assert sequential_test(0.3, 0.0, 0.1, 0.05) is None


def test_units_needed_gives_the_effect_about_80_percent_power():
    """At the count reported, an estimate 0.84 standard errors below the true effect (its 20th
    percentile) still reaches p < alpha; one unit fewer, it does not."""
    needed = units_needed(variance=0.004, units=100, effect=0.05, tau=0.05, alpha=0.05)
    per_unit = 0.004 * 100
    threshold = math.log(20)

    def lower_quantile_reaches(total):
        spread = per_unit / total
        return log_likelihood_ratio(0.05 - 0.8416212 * math.sqrt(spread), spread, 0.05) >= threshold

    assert lower_quantile_reaches(needed) and not lower_quantile_reaches(needed - 1)
    # More than an estimate exactly at the effect would need (about 50% power).
    assert log_likelihood_ratio(0.05, per_unit / (needed * 0.7), 0.05) >= threshold


def test_an_aa_test_read_at_every_look_rarely_declares_a_winner():
    """No difference, read after every 20 shoppers up to 2,000: the always-valid test declares a
    winner in at most about alpha of the runs (a fixed-horizon z-test read this way would in
    far more)."""
    alpha, runs, declared = 0.05, 200, 0
    rng = random.Random(3)
    for _ in range(runs):
        sums = {"a": ([], []), "b": ([], [])}
        for shopper in range(2000):
            arm = "ab"[shopper % 2]
            searches = 1 + int(rng.expovariate(0.5))
            clicked = sum(rng.random() < 0.3 for _ in range(searches))
            sums[arm][0].append(clicked)
            sums[arm][1].append(searches)
            if shopper % 20 == 19 and shopper > 40:
                a, b = (ratio_estimate(*sums[arm]) for arm in "ab")
                test = sequential_test(b.value - a.value, a.variance + b.variance, 0.05 * a.value, alpha)
                if test is not None and test.significant:
                    declared += 1
                    break
    assert declared / runs <= alpha + 2 * math.sqrt(alpha * (1 - alpha) / runs)


# --- the event store -----------------------------------------------------------------------


def test_an_event_store_written_before_experiments_gains_their_columns(tmp_path):
    from search_engine.event_store import EventStore

    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript("CREATE TABLE events (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, session_id TEXT NOT NULL, "
                      "timestamp REAL NOT NULL, type TEXT NOT NULL, product_id TEXT, query TEXT, position INTEGER, "
                      "search_id TEXT, shown TEXT);"
                      "INSERT INTO events VALUES (1, 'u1', 's1', 5.0, 'search', NULL, 'q', 1, 'x0', '[\"p1\"]');")
    old.commit()
    old.close()
    store = EventStore(path)
    [before] = store.for_user("u1")
    assert before.shown == ("p1",) and before.experiment is None and before.teams == ()
    store.add([search_event("u1", "x1", 6, ["p1", "p2"], INTERLEAVED, "ab", session="s1"),
               outcome("u1", "click", 7, "p2", session="s1"), outcome("u2", "click", 7, "p2", session="s2"),
               outcome("u1", "click", 8, "p1", "x1", session="another-tab"),
               outcome("u1", "click", 99, "p1", "x1", session="s1")])
    # The experiment's sessions (the search before it included, to attribute to), and a click
    # from another session that names its search; not after `until`, not other sessions.
    logged = list(store.of_experiment("1", since=0, until=50))
    assert [(e.type, e.session_id, e.timestamp) for e in logged] == [
        ("search", "s1", 5.0), ("search", "s1", 6.0), ("click", "s1", 7.0), ("click", "another-tab", 8.0)]
    assert logged[1].teams == ("a", "b") and logged[1].variant == INTERLEAVED


# --- through the API -----------------------------------------------------------------------


def users_in(experiment, arm, count=3):
    found = [u for u in (f"user-{i}" for i in range(500)) if assigned(experiment, u) == arm]
    return found[:count]


def test_bad_definitions_get_a_400_naming_the_field(client):
    cases = [
        (definition() | {"variants": []}, "variants"),
        ({**definition(), "variants": [{"name": "a", "share": 0.5, "config": {"personalization": True}},
                                       {"name": "b", "share": 0.5, "config": {}}]},
         "variants[0].config.personalization"),  # no preference model on this server
        ({**definition(), "variants": [{"name": "a", "share": 0.5, "config": {"ranker": True}},
                                       {"name": "b", "share": 0.5, "config": {}}]}, "variants[0].config.ranker"),
        ({**definition(), "variants": [{"name": "a", "share": 0.5, "config": {"version": "v-none"}},
                                       {"name": "b", "share": 0.5, "config": {}}]}, "variants[0].config.version"),
    ]
    for body, field in cases:
        response = client.post("/admin/experiments", json=body, headers=AUTH)
        assert response.status_code == 400 and response.get_json()["error"]["parameter"] == field, field
    response = client.post("/admin/experiments", data="nope", content_type="application/json", headers=AUTH)
    assert response.status_code == 400 and response.get_json()["error"]["parameter"] == "body"
    assert "not valid JSON" in response.get_json()["error"]["message"]
    assert client.post("/admin/experiments", json=definition()).status_code == 401
    assert client.get("/admin/experiments/99/results", headers=AUTH).status_code == 404


def test_one_experiment_at_a_time_and_only_unstarted_ones_are_redefined(client):
    created = client.post("/admin/experiments", json=definition(), headers=AUTH)
    assert created.status_code == 201 and created.get_json()["status"] == "running"
    experiment_id = created.get_json()["id"]
    overlapping = client.post("/admin/experiments", json=definition(), headers=AUTH)
    assert overlapping.status_code == 409 and overlapping.get_json()["error"]["parameter"] == "start"
    assert client.put(f"/admin/experiments/{experiment_id}", json=definition(), headers=AUTH).status_code == 409
    stopped = client.post(f"/admin/experiments/{experiment_id}/stop", headers=AUTH).get_json()
    assert stopped["status"] == "stopped"
    later = definition(start="2100-01-01T00:00:00Z", stop="2100-02-01T00:00:00Z")
    scheduled = client.post("/admin/experiments", json=later, headers=AUTH).get_json()
    assert scheduled["status"] == "scheduled"
    moved = client.put(f"/admin/experiments/{scheduled['id']}", json=later | {"name": "renamed"}, headers=AUTH)
    assert moved.status_code == 200 and moved.get_json()["name"] == "renamed"
    listed = client.get("/admin/experiments", headers=AUTH).get_json()["experiments"]
    assert [e["status"] for e in listed] == ["stopped", "scheduled"]
    assert client.delete(f"/admin/experiments/{scheduled['id']}", headers=AUTH).get_json() == {
        "deleted": scheduled["id"]}
    # Its searches in the log keep its id: no later experiment is given it.
    again = client.post("/admin/experiments", json=later, headers=AUTH).get_json()
    assert again["id"] > scheduled["id"]


def test_search_serves_and_logs_the_assigned_variant_and_results_count_it(client, app, engine):
    from api.events import event_store

    body = client.post("/admin/experiments", json=definition(), headers=AUTH).get_json()
    running = app.extensions["experiments"].get(body["id"])
    keyword_users, control_users = users_in(running, "keyword"), users_in(running, "control")
    keyword_ids = [h.product.id for h in engine.search(Query("hdmi cable", k=5, mode="keyword")).hits]
    hybrid_ids = [h.product.id for h in engine.search(Query("hdmi cable", k=5)).hits]
    assert keyword_ids != hybrid_ids  # so the variant shows
    served = {}
    for user in keyword_users + control_users:
        result = client.get(f"/search?q=hdmi+cable&k=5&user={user}&session=s-{user}").get_json()
        assert result["experiment"] == {"id": running.id, "variant": assigned(running, user)}
        assert [r["id"] for r in result["results"]] == (keyword_ids if user in keyword_users else hybrid_ids)
        served[user] = result
    # An anonymous shopper is assigned by their session; without one, by nothing.
    anonymous = client.get("/search?q=hdmi+cable&k=5&session=" + keyword_users[0]).get_json()
    assert anonymous["experiment"]["variant"] == "keyword"
    assert "experiment" not in client.get("/search?q=hdmi+cable&k=5").get_json()
    # Clicks on the first result for every keyword shopper, none for control.
    events = [{"user_id": u, "session_id": f"s-{u}", "timestamp": time.time(), "type": "click",
               "product_id": served[u]["results"][0]["id"], "search_id": served[u]["search_id"]}
              for u in keyword_users]
    assert client.post("/events", json={"events": events}).status_code == 201
    with app.app_context():
        logged = [e for e in event_store().for_user(control_users[0]) if e.type == "search"]
    assert logged[-1].experiment == str(running.id) and logged[-1].variant == "control"
    results = client.get(f"/admin/experiments/{running.id}/results", headers=AUTH).get_json()
    control, variant = results["variants"]
    # The anonymous search was under a session named like a keyword shopper: the same unit.
    assert (control["searches"], variant["searches"], variant["units"]) == (3, 4, 3)
    assert control["metrics"]["ctr"]["value"] == 0 and variant["metrics"]["ctr"]["value"] == pytest.approx(3 / 4)


def test_interleaved_searches_merge_both_rankings_and_log_the_teams(client, app, engine):
    from api.events import event_store

    body = client.post("/admin/experiments", json=definition("interleaving"), headers=AUTH).get_json()
    assert assigned(app.extensions["experiments"].get(body["id"]), "u1") == INTERLEAVED  # all traffic
    hybrid = [h.product.id for h in engine.search(Query("usb hub", k=10)).hits]
    keyword = [h.product.id for h in engine.search(Query("usb hub", k=10, mode="keyword")).hits]
    result = client.get("/search?q=usb+hub&k=10&user=u1&session=s1").get_json()
    again = client.get("/search?q=usb+hub&k=10&user=u1&session=s1").get_json()
    shown = [r["id"] for r in result["results"]]
    assert result["experiment"]["variant"] == INTERLEAVED and shown == [r["id"] for r in again["results"]]
    with app.app_context():
        logged = [e for e in event_store().for_user("u1") if e.type == "search"][-1]
    assert list(logged.shown) == shown and len(logged.teams) == len(shown)
    picked = {"a": [p for p, t in zip(shown, logged.teams) if t == "a"],
              "b": [p for p, t in zip(shown, logged.teams) if t == "b"]}
    # Each team's picks come from its own ranking, in its order, and the teams stay balanced.
    assert all(p in hybrid for p in picked["a"]) and all(p in keyword for p in picked["b"])
    assert picked["a"] == sorted(picked["a"], key=hybrid.index)
    assert picked["b"] == sorted(picked["b"], key=keyword.index)
    assert abs(len(picked["a"]) - len(picked["b"])) <= 1
    # Page 2 continues the same merge.
    second = client.get("/search?q=usb+hub&k=5&offset=5&user=u1&session=s1").get_json()
    assert [r["id"] for r in second["results"]] == shown[5:10]


def test_concurrent_searches_and_experiment_edits_serve_consistent_variants(client, app):
    """Searches run while experiments are created, stopped and deleted: no request fails, and
    every search served in an experiment got the variant its shopper is assigned in that
    experiment, as that experiment was defined."""
    definitions: dict[int, object] = {}
    problems: list = []
    stop = threading.Event()

    def edit():
        with app.test_client() as admin:
            for round_number in range(15):
                kind = ("ab", "interleaving")[round_number % 2]
                body = admin.post("/admin/experiments", json=definition(kind), headers=AUTH).get_json()
                definitions[body["id"]] = app.extensions["experiments"].get(body["id"])
                time.sleep(0.01)
                admin.post(f"/admin/experiments/{body['id']}/stop", headers=AUTH)
                if round_number % 3 == 0:
                    admin.delete(f"/admin/experiments/{body['id']}", headers=AUTH)
        stop.set()

    def shop(worker: int):
        with app.test_client() as shopper:
            n = 0
            while not stop.is_set():
                user = f"w{worker}-{n % 7}"
                response = shopper.get(f"/search?q=usb+hub&k=5&user={user}&session=s{user}")
                n += 1
                if response.status_code != 200:
                    problems.append(response.get_data(as_text=True))
                    continue
                served = response.get_json().get("experiment")
                if served is not None:
                    experiment = definitions.get(served["id"])
                    if experiment is not None and assigned(experiment, user) != served["variant"]:
                        problems.append((served, user))

    threads = [threading.Thread(target=shop, args=(i,)) for i in range(3)] + [threading.Thread(target=edit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not problems, problems[:3]
    assert len(definitions) == 15


# --- what a review found ------------------------------------------------------------------


def test_dates_outside_the_range_events_allow_are_refused_and_a_bad_stored_row_never_breaks_search(client, app):
    for given, field in (({"stop": "9999-12-31T00:00:00Z"}, "stop"), ({"start": "1960-01-01T00:00:00Z"}, "start"),
                         ({"start": 99_999_999_999.0}, "stop")):  # the default stop, 14 days on, is too late
        response = client.post("/admin/experiments", json=definition(**given), headers=AUTH)
        assert response.status_code == 400 and response.get_json()["error"]["parameter"] == field, given
    store = app.extensions["experiments"]
    store._table._connection.execute("INSERT INTO experiments (definition) VALUES ('{\"name\": 1}')")
    assert client.get("/search?q=usb+hub&user=u1").status_code == 200
    assert client.get("/admin/experiments", headers=AUTH).get_json()["experiments"] == []


def _open_old_store(path):
    from search_engine.event_store import EventStore

    EventStore(path).close()


def test_workers_upgrading_an_old_event_store_at_once_all_open_it(tmp_path):
    import multiprocessing

    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript("CREATE TABLE events (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, session_id TEXT NOT NULL, "
                      "timestamp REAL NOT NULL, type TEXT NOT NULL, product_id TEXT, query TEXT, position INTEGER, "
                      "search_id TEXT, shown TEXT);")
    old.executemany("INSERT INTO events (user_id, session_id, timestamp, type, query) VALUES (?, ?, ?, 'search', 'q')",
                    [(f"u{i}", f"s{i}", float(i)) for i in range(20_000)])
    old.commit()
    old.close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_open_old_store, args=(path,)) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0] * 6
    columns = {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(events)")}
    assert {"experiment", "variant", "teams"} <= columns


def test_opening_a_rollback_mode_file_while_another_process_writes_it_waits_for_the_writer(tmp_path):
    # What made the test above fail now and then: switching to WAL under another writer's lock
    # is refused at once by SQLite, without its busy wait.
    import threading

    from search_engine.sqlite_files import connect_wal

    path = tmp_path / "old.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO t VALUES (1)")
    releaser = threading.Timer(0.3, lambda: writer.execute("COMMIT"))
    releaser.start()
    connection = connect_wal(path)
    releaser.join()
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_overlapping_experiments_added_at_once_from_several_connections_start_one(tmp_path):
    from search_engine.experiments.store import ExperimentStore

    path = tmp_path / "merchandising.sqlite3"
    stores = [ExperimentStore(path) for _ in range(6)]
    barrier = threading.Barrier(len(stores))
    outcomes: list = []

    def add(store):
        barrier.wait()
        try:
            outcomes.append(store.add(parse_experiment(definition(), NOW)))
        except ExperimentError as exc:
            outcomes.append(exc.field)

    threads = [threading.Thread(target=add, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(str, outcomes)).count("start") == 5 and len(stores[0].experiments()) == 1


def test_a_variant_whose_version_was_removed_falls_back_to_the_serving_engine(engine, slice_index_root, tmp_path):
    import shutil

    from api import create_app
    from indexer import versions
    from search_engine.settings import Settings

    root = tmp_path / "index"
    shutil.copytree(slice_index_root, root)
    serving = versions.current_version(root)
    shutil.copytree(versions.version_dir(root, serving), root / "versions" / "v-staged")
    settings = Settings(index_root=str(root), events_path=str(tmp_path / "events.sqlite3"),
                        merchandising_path=str(tmp_path / "merchandising.sqlite3"),
                        judgments_path=str(tmp_path / "judgments.sqlite3"), admin_token="test-token")
    app = create_app({"SETTINGS": settings, "ENGINE": engine, "TESTING": True})
    client = app.test_client()
    raw = definition()
    raw["variants"][1]["config"] = {"version": "v-staged"}
    created = client.post("/admin/experiments", json=raw, headers=AUTH).get_json()
    staged_user = users_in(app.extensions["experiments"].get(created["id"]), "keyword", 1)[0]
    served = client.get(f"/search?q=usb+hub&user={staged_user}").get_json()
    assert served["experiment"]["variant"] == "keyword"
    shutil.rmtree(root / "versions" / "v-staged")
    fallback = client.get(f"/search?q=usb+hub&user={staged_user}")
    assert fallback.status_code == 200 and "experiment" not in fallback.get_json()  # counted for no variant


def test_attribution_stays_with_the_search_that_showed_the_product():
    log = [
        search_event("u1", "x1", 10, ["p1"], "control", session="s1"),
        search_event("u4", "x4", 11, ["p1"], "control", session="s4"),
        # A search of the same session outside the experiment shows p1 again; the click names it.
        search_event("u1", "y1", 20, ["p1"], None, experiment_id=None, session="s1"),
        outcome("u1", "click", 21, "p1", "y1", session="s1"),
        # A click whose client clock is behind the server's still finds the search it names.
        search_event("u2", "x2", 30, ["p2"], "keyword", session="s2"),
        outcome("u2", "click", 29.5, "p2", "x2", session="s2"),
        # A purchase long after the experiment stopped does not count.
        search_event("u3", "x3", 40, ["p3"], "keyword", session="s3"),
        outcome("u3", "purchase", NOW + 30 * 86400, "p3", "x3", session="s3"),
    ]
    stopped = replace(experiment(), start=0.0, stop=NOW)
    results = ExperimentTally(stopped, lambda p: 5.0).add_all(log).results()
    control, variant = results["variants"]
    assert control["metrics"]["ctr"]["value"] == 0  # the click was the other search's
    assert variant["metrics"]["ctr"]["value"] == pytest.approx(1 / 2)
    assert variant["metrics"]["conversion"]["value"] == 0


def test_a_verdict_once_reached_stands_and_a_lopsided_split_is_flagged():
    from search_engine.experiments.statistics import RunningTest, SequentialTest

    running = RunningTest(0.05)
    running.look(SequentialTest(0.3, 0.01, (0.1, 0.5), True))
    running.look(SequentialTest(0.05, 0.6, (-0.2, 0.3), False))
    assert running.significant and running.p_value == 0.01 and running.interval == (0.1, 0.3)
    assert running.direction == 1
    # 100 shoppers in one variant, 200 in the other, with shares of one half each.
    log = [search_event(f"c{i}", f"c{i}", i, ["p1"], "control") for i in range(100)]
    log += [search_event(f"k{i}", f"k{i}", i, ["p1"], "keyword") for i in range(200)]
    ratio = ExperimentTally(experiment(), lambda p: 1.0).add_all(log).results()["sample_ratio"]
    assert ratio["mismatch"] and ratio["p_value"] < 1e-6
    even = ExperimentTally(experiment(), lambda p: 1.0).add_all(log[:200]).results()["sample_ratio"]
    assert not even["mismatch"]


def test_experiments_on_personalization_take_known_shoppers_only_and_log_without_log_searches(
        engine, slice_index_root, preference_model_root, tmp_path):
    from api import create_app
    from search_engine.personalization.model import load_model
    from search_engine.personalization.reranker import PreferenceReranker
    from search_engine.settings import Settings

    settings = Settings(index_root=str(slice_index_root), events_path=str(tmp_path / "events.sqlite3"),
                        merchandising_path=str(tmp_path / "merchandising.sqlite3"),
                        judgments_path=str(tmp_path / "judgments.sqlite3"), admin_token="test-token",
                        log_searches=False)
    personal = replace(engine, reranker=PreferenceReranker(load_model(preference_model_root), lambda user: []))
    app = create_app({"SETTINGS": settings, "ENGINE": personal, "TESTING": True})
    client = app.test_client()
    raw = {"name": "personalization", "variants": [
        {"name": "off", "share": 0.5, "config": {"personalization": False}},
        {"name": "on", "share": 0.5, "config": {"personalization": True}}]}
    created = client.post("/admin/experiments", json=raw, headers=AUTH).get_json()
    assert created["warnings"] == []
    assert "experiment" not in client.get("/search?q=usb+hub&session=anonymous-1").get_json()
    served = client.get("/search?q=usb+hub&user=u1&session=s1").get_json()
    assert served["experiment"]["id"] == created["id"] and "search_id" in served  # logged all the same
    client.post(f"/admin/experiments/{created['id']}/stop", headers=AUTH)
    # {} and {"personalization": true} search the same way on a server with a preference model.
    raw["variants"][0]["config"] = {}
    same = client.post("/admin/experiments", json=raw, headers=AUTH).get_json()
    assert same["warnings"] and "A/A" in same["warnings"][0]


def test_a_verdict_reached_on_part_of_the_log_stands_when_the_log_is_read_again_longer():
    """The results replay the log on every request: a winner declared on a prefix is declared
    on every longer one (the test's reads fall at the same searches)."""
    rng = random.Random(5)
    ab = experiment()
    log = []
    for i in range(3000):
        user = f"u{i % 700}"
        arm = assigned(ab, user)
        log.append(search_event(user, f"x{i}", i, ["p1"], arm))
        if rng.random() < (0.36 if arm == "keyword" else 0.30):
            log.append(outcome(user, "click", i + 0.5, "p1", f"x{i}"))

    def significant(end: int) -> bool:
        results = ExperimentTally(ab, lambda p: 1.0).add_all(log[:end]).results()
        return results["variants"][1]["against_control"].get("significant", False)

    first = next(end for end in range(50, len(log) + 1, 40) if significant(end))  # the 20% lift is found
    # Around where it is first declared, event by event: once declared, never withdrawn.
    verdicts = [significant(end) for end in range(first - 40, min(first + 80, len(log) + 1))]
    reached = verdicts.index(True)
    assert all(verdicts[reached:]), "the verdict flipped back"
    assert all(significant(end) for end in range(first + 80, len(log) + 1, 97))


def test_a_click_without_a_search_id_stamped_before_its_search_still_counts():
    log = [search_event("u1", "x1", 10.0, ["p1"], "control"), outcome("u1", "click", 9.5, "p1"),
           search_event("u2", "x2", 11.0, ["p1"], "control")]
    control = ExperimentTally(experiment(), lambda p: 1.0).add_all(log).results()["variants"][0]
    assert control["metrics"]["ctr"]["value"] == pytest.approx(1 / 2)


def _clicky_log(ab, shoppers=300, searches=1200, seed=2):
    rng = random.Random(seed)
    log = []
    for i in range(searches):
        user = f"u{rng.randrange(shoppers)}"
        arm = assigned(ab, user)
        log.append(search_event(user, f"x{i}", NOW + i, ["p1", "p2"], arm, session=f"s-{user}"))
        if rng.random() < 0.4:
            log.append(outcome(user, "click", NOW + i + 0.5, rng.choice(["p1", "p2"]), f"x{i}", session=f"s-{user}"))
        if rng.random() < 0.1:
            log.append(outcome(user, "purchase", NOW + i + 0.7, "p2", session=f"s-{user}"))
    return log


def test_followed_results_equal_a_replay_while_events_arrive_and_after_a_deletion(tmp_path):
    """Results read while other threads store events: each read, and the last, equals a
    replay of the log from scratch; forgetting a shopper makes them again without them."""
    from search_engine.event_store import EventStore
    from search_engine.experiments.followed import FollowedResults

    ab = replace(experiment(), start=NOW, stop=NOW + 86400)
    store = EventStore(tmp_path / "events.sqlite3")
    followed = FollowedResults(store, lambda p: 7.0)
    log = _clicky_log(ab)

    def replay():
        events = store.of_experiment("1", ab.start, ab.stop + 86400)
        return ExperimentTally(ab, lambda p: 7.0).add_all(events).results()

    errors: list = []
    done = threading.Event()

    def write():
        for start in range(0, len(log), 50):
            store.add(log[start:start + 50])
        done.set()

    def read():
        try:
            while not done.is_set():
                followed.results(ab)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert followed.results(ab) == replay()
    assert followed.results(ab)["variants"][0]["searches"] + followed.results(ab)["variants"][1]["searches"] == 1200
    store.forget("u1")
    after = followed.results(ab)
    assert after == replay() and sum(v["searches"] for v in after["variants"]) < 1200
