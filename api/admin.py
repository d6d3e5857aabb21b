"""Admin endpoints for the catalog team and merchants: reload, upsert, delete, status,
merchandising rules, suggestion rules, synonyms, forgetting a shopper.

They need the admin token (api/auth.py): `Authorization: Bearer <admin_token>`, or the
workbench's login cookie; with no token configured they are disabled (403), never open.
"""
from __future__ import annotations

import dataclasses

from flask import Blueprint, current_app, jsonify

from api.auth import require_admin
from api.engine_holder import live_engine
from api.errors import ApiError
from api.params import json_body
from indexer import update_log, versions
from indexer.attributes import value_problems
from indexer.incremental import EncoderMismatchError, VersionSwitchedError, apply_updates
from indexer.validation import validate_records
from search_engine.events import MAX_ID_LENGTH
from search_engine.types import MAX_QUERY_CHARACTERS

bp = Blueprint("admin", __name__, url_prefix="/admin")
MAX_BATCH = 10_000


bp.before_request(require_admin)


def _json_list(name: str) -> list:
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get(name), list):
        raise ApiError(f"the JSON body must be an object with a list {name!r}", parameter=name)
    if not body[name]:
        raise ApiError(f"{name!r} must not be empty", parameter=name)
    if len(body[name]) > MAX_BATCH:
        raise ApiError(f"at most {MAX_BATCH} {name} per request, got {len(body[name])}", parameter=name)
    return body[name]


def _write(upserts=(), deletes=()):
    live = live_engine()
    for attempt in range(2):
        engine = live.get()
        try:
            return apply_updates(engine.index, engine.towers.product, upserts, deletes, root=live.root)
        except VersionSwitchedError:  # a full reindex switched meanwhile: write to the new version
            try:
                live.reload_now(retry_refused=False)
            except RuntimeError as exc:  # a version this server cannot serve: say so, change nothing
                raise ApiError(f"not written: {exc}", status=409) from None
        except EncoderMismatchError as exc:
            raise ApiError(str(exc), status=409) from None
    raise ApiError("the index version kept changing; try again", status=503)


@bp.post("/products")
def upsert_products():
    """Body: {"products": [{"id", "title", ...}, ...]}; every row is validated first."""
    rows = _json_list("products")
    report = validate_records("request", ((i, r if isinstance(r, dict) else {}) for i, r in enumerate(rows, 1)),
                              refuse_unknown_fields=True)
    if report.errors:
        raise ApiError("invalid products, nothing was changed: " + "; ".join(map(str, report.errors[:20])),
                       parameter="products")
    problems = value_problems(report.products, live_engine().get().index.products.attributes, rows=report.rows)
    if problems:  # checked again under the write lock; this names the rows first
        raise ApiError("invalid products, nothing was changed: " + "; ".join(problems), parameter="products")
    return jsonify(_write(upserts=report.products).to_dict())


@bp.post("/products/delete")
def delete_products():
    """Body: {"ids": ["...", ...]}; ids the index does not have are listed under not_found."""
    ids = _json_list("ids")
    if not all(isinstance(i, (str, int)) and not isinstance(i, bool) and str(i).strip() for i in ids):
        raise ApiError("ids must be non-empty strings", parameter="ids")
    return jsonify(_write(deletes=[str(i).strip() for i in ids]).to_dict())


@bp.delete("/products/<product_id:product_id>")
def delete_product(product_id: str):
    summary = _write(deletes=[product_id])
    if summary.not_found:
        raise ApiError(f"no product with id {product_id!r}", status=404, parameter="id")
    return jsonify(summary.to_dict())


@bp.post("/reload")
def reload():
    try:
        engine = live_engine().reload_now()
    except (RuntimeError, OSError) as exc:
        raise ApiError(str(exc), status=409) from None
    return jsonify({"version": engine.index.version, "product_count": len(engine.index.products)})


@bp.get("/status")
def status():
    live = live_engine()
    index = live.get().index
    snapshot = index.snapshot()
    root = live.root
    return jsonify({
        "serving_version": snapshot.version,
        "current_pointer": versions.current_version(root),
        "product_count": len(snapshot.products),
        "applied_changes": snapshot.seq,
        "logged_changes": update_log.last_seq(index.directory),
        "versions": versions.list_versions(root),
        "interrupted_builds": [p.name for p in versions.abandoned_builds(root)],
        "refused_versions": live.refused,  # replaced, never changed in place: safe to serialize
        "last_error": live.last_error,
    })


@bp.delete("/shoppers/<path:user_id>")
def forget_shopper(user_id: str):
    """Forget a shopper: every event of theirs (searches and what they were shown included)
    is deleted from the event store; the suggestions and spelling's popular queries count
    the log again without them, and personalization has nothing of theirs left to read."""
    from api.events import event_store

    user_id = user_id.strip()
    if not user_id or len(user_id) > MAX_ID_LENGTH:
        raise ApiError(f"the shopper id must be 1 to {MAX_ID_LENGTH} characters", parameter="id")
    store = event_store()
    deleted = store.forget(user_id)
    current_app.extensions["suggestions"].refresh()  # this worker at once; the others at their next read
    current_app.extensions["analytics"].update()  # the rollups are counted again without them, now
    on_disk = store.checkpoint()  # their events and the rollups' old rows leave the log too
    return jsonify({"shopper": user_id, "events_deleted": deleted, "overwritten_on_disk": on_disk})


def _rule_from_body(rule_type, fields: tuple[str, ...], what: str, max_characters: int | None = None):
    """One rule of `rule_type` from the JSON body: unknown fields, text fields longer than
    max_characters and the rule's own checks ("field: message") become a 400 naming the field."""
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(f"the body must be a JSON object describing one {what}", parameter=fields[0])
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise ApiError(f"unknown {what} field(s): {', '.join(unknown)}", parameter=unknown[0])
    missing = [f.name for f in dataclasses.fields(rule_type) if f.name in fields and f.default is dataclasses.MISSING
               and body.get(f.name) in ("", None)]
    if missing:
        raise ApiError(f"{missing[0]}: a {what} needs one", parameter=missing[0])
    for f in dataclasses.fields(rule_type):
        value = body.get(f.name)
        if f.name not in fields or value is None or "int" in str(f.type):
            continue  # numbers are the rule's own check
        if not isinstance(value, str):  # text no store can write never gets here (json_body)
            raise ApiError(f"{f.name}: must be a string, got {type(value).__name__}", parameter=f.name)
        if max_characters is not None and len(value.strip()) > max_characters:  # measured as /search measures q
            raise ApiError(f"{f.name}: at most {max_characters} characters, got {len(value.strip())}",
                           parameter=f.name)
    try:
        return rule_type(**{k: body[k] for k in fields if k in body and body[k] not in ("", None)})
    except (TypeError, ValueError) as exc:
        field, _, _ = str(exc).partition(":")
        raise ApiError(str(exc), parameter=field if field in fields else None) from None


def _merchandising_rule():
    """A merchandising rule: {"query", "match": exact|contains, "action": pin|boost|bury,
    "product_id" + "position" for a pin, "brand" and/or "category" for boost and bury}."""
    from search_engine.merchandising import Rule
    from search_engine.merchandising_store import FIELDS

    # A rule's text is a query's, a product id's or a filter value's: no longer than a query.
    # Checked here, not in Rule, so that rules stored before the limit still load.
    rule = _rule_from_body(Rule, FIELDS, "rule", max_characters=MAX_QUERY_CHARACTERS)
    if rule.action == "pin" and live_engine().get().index.products.get(rule.product_id) is None:
        raise ApiError(f"product_id: no product with id {rule.product_id!r}", parameter="product_id")
    return rule


def _suggestion_rule():
    """{"text", "action": block|pin, "match": exact|contains (a block only)}."""
    from search_engine.suggest.rules import FIELDS, SuggestionRule

    return _rule_from_body(SuggestionRule, FIELDS, "suggestion rule")


def _synonym_rule():
    """{"text": "tv, television"} or {"text": "laptop => notebook"} (indexer/keyword/synonyms.py)."""
    from indexer.keyword.synonyms import SynonymRule

    return _rule_from_body(SynonymRule, ("text",), "synonym rule")


def _rule_endpoints(path: str, store_of, parse, what: str, listed=None) -> None:
    """GET and POST <path>, PUT and DELETE <path>/<id>: one kind of merchants' rules kept in
    a RuleTable (store_of(): it), each read from the body by parse(). listed(store): the
    rules GET lists (default: the stored ones)."""
    name = path.strip("/").replace("/", "_")

    def list_rules():
        store = store_of()
        return jsonify({"rules": [r.to_dict() for r in (listed(store) if listed else store.rules())]})

    def not_stored_yet(rule, rule_id: int | None = None):
        """A check for the write transaction (no other worker stores the rule meanwhile): no
        other stored rule is the same."""
        def check(stored) -> None:
            same = next((r for r in stored if r.id != rule_id and dataclasses.replace(r, id=None) == rule), None)
            if same is not None:
                raise ApiError(f"the same {what} is stored already (id {same.id})", status=409, parameter="id")
        return check

    def add_rule():
        rule = parse()
        return jsonify(store_of().add(rule, check=not_stored_yet(rule)).to_dict()), 201

    def replace_rule(rule_id: int):
        edited = parse()
        rule = store_of().replace(rule_id, edited, check=not_stored_yet(edited, rule_id))
        if rule is None:
            raise ApiError(f"no {what} with id {rule_id}", status=404, parameter="id")
        return jsonify(rule.to_dict())

    def delete_rule(rule_id: int):
        if not store_of().delete(rule_id):
            raise ApiError(f"no {what} with id {rule_id}", status=404, parameter="id")
        return jsonify({"deleted": rule_id})

    bp.add_url_rule(path, f"list_{name}", list_rules, methods=["GET"])
    bp.add_url_rule(path, f"add_{name}", add_rule, methods=["POST"])
    bp.add_url_rule(f"{path}/<int:rule_id>", f"replace_{name}", replace_rule, methods=["PUT"])
    bp.add_url_rule(f"{path}/<int:rule_id>", f"delete_{name}", delete_rule, methods=["DELETE"])


_rule_endpoints("/rules", lambda: current_app.extensions["rule_store"], _merchandising_rule, "rule")
_rule_endpoints("/suggestions/rules", lambda: current_app.extensions["suggestions"].rules, _suggestion_rule,
                "suggestion rule")
_rule_endpoints("/synonyms", lambda: current_app.extensions["synonym_store"], _synonym_rule, "stored synonym rule",
                listed=lambda store: store.file_rules + tuple(store.rules()))
