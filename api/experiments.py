"""Admin endpoints for online experiments: define, list, stop and delete A/B tests and
interleaving tests, and read their results (search_engine/experiments/)."""
from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify

from api.auth import require_admin
from api.engine_holder import current_engine
from api.errors import ApiError
from api.params import json_body
from search_engine.experiments.definition import Experiment, ExperimentError, parse_experiment

bp = Blueprint("experiments", __name__, url_prefix="/admin")
bp.before_request(require_admin)


def _store():
    return current_app.extensions["experiments"]


def _described(experiment: Experiment, now: float) -> dict:
    return {**experiment.to_dict(), "status": experiment.status(now)}


def _definition(now: float) -> tuple[Experiment, list[str]]:
    """The experiment in the JSON body, checked against what this server can serve, and
    warnings about settings that change nothing here."""
    try:
        experiment = parse_experiment(json_body(), now)
        warnings = current_app.extensions["variant_engines"].check(experiment, current_engine())
    except ExperimentError as exc:
        raise ApiError(str(exc), parameter=exc.field) from None
    return experiment, warnings


def _existing(experiment_id: int) -> Experiment:
    experiment = _store().get(experiment_id)
    if experiment is None:
        raise ApiError(f"no experiment with id {experiment_id}", status=404, parameter="id")
    return experiment


def _edited(edit):
    try:
        return edit()
    except ExperimentError as exc:
        raise ApiError(str(exc), status=409, parameter=exc.field) from None


@bp.get("/experiments")
def list_experiments():
    now = time.time()
    return jsonify({"experiments": [_described(e, now) for e in _store().experiments()]})


@bp.post("/experiments")
def add_experiment():
    """Body: {"name", "kind": ab|interleaving, "variants": [{"name", "share", "config"}], "start",
    "stop", "traffic", "metric", "minimum_effect", "alpha"} (search_engine/experiments/definition.py)."""
    now = time.time()
    experiment, warnings = _definition(now)
    return jsonify({**_described(_edited(lambda: _store().add(experiment)), now), "warnings": warnings}), 201


@bp.get("/experiments/<int:experiment_id>")
def get_experiment(experiment_id: int):
    return jsonify(_described(_existing(experiment_id), time.time()))


@bp.put("/experiments/<int:experiment_id>")
def replace_experiment(experiment_id: int):
    now = time.time()
    _existing(experiment_id)
    experiment, warnings = _definition(now)
    replaced = _edited(lambda: _store().replace(experiment_id, experiment, now))
    if replaced is None:
        raise ApiError(f"no experiment with id {experiment_id}", status=404, parameter="id")
    return jsonify({**_described(replaced, now), "warnings": warnings})


@bp.post("/experiments/<int:experiment_id>/stop")
def stop_experiment(experiment_id: int):
    now = time.time()
    _existing(experiment_id)
    stopped = _edited(lambda: _store().stop(experiment_id, now))
    if stopped is None:
        raise ApiError(f"no experiment with id {experiment_id}", status=404, parameter="id")
    return jsonify(_described(stopped, now))


@bp.delete("/experiments/<int:experiment_id>")
def delete_experiment(experiment_id: int):
    if not _store().delete(experiment_id):
        raise ApiError(f"no experiment with id {experiment_id}", status=404, parameter="id")
    return jsonify({"deleted": experiment_id})


@bp.get("/experiments/<int:experiment_id>/results")
def experiment_results(experiment_id: int):
    """Per variant: shoppers, searches, click-through, conversion and revenue per search with
    intervals; against the control, the always-valid test and the shoppers still needed
    (interleaving: the preference for each variant by clicks and by purchases)."""
    experiment = _existing(experiment_id)
    started = time.perf_counter()
    body = {"status": experiment.status(time.time()), **current_app.extensions["experiment_results"].results(experiment)}
    body["took_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return jsonify(body)
