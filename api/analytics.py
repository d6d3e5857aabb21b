"""GET /admin/analytics: what shoppers searched and what it led to, over a date range (JSON or CSV)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from flask import Blueprint, Response, current_app, jsonify, request

from api.auth import require_admin
from api.errors import ApiError
from api.params import int_param
from search_engine.analytics import dashboard_csv

bp = Blueprint("analytics", __name__, url_prefix="/admin")
bp.before_request(require_admin)
DEFAULT_DAYS = 30
MAX_DAYS = 3_660
EARLIEST, LATEST = date(1970, 1, 1), date(9000, 1, 1)  # dates a range can be computed around


def _day(name: str, default: date) -> date:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ApiError(f"{name} must be a date as YYYY-MM-DD, got {raw!r}", parameter=name) from None
    if not EARLIEST <= day <= LATEST:
        raise ApiError(f"{name} must be from {EARLIEST} to {LATEST}, got {day}", parameter=name)
    return day


@bp.get("/analytics")
def analytics():
    today = datetime.now(timezone.utc).date()
    end = _day("to", today)
    start = _day("from", end - timedelta(days=DEFAULT_DAYS - 1))
    if end < start:
        raise ApiError(f"to ({end}) is before from ({start})", parameter="to")
    if (end - start).days >= MAX_DAYS:
        raise ApiError(f"at most {MAX_DAYS} days at once", parameter="from")
    top = int_param(request.args, "top", 20, 1, 1000)
    output = request.args.get("format", "json")
    if output not in ("json", "csv"):
        raise ApiError(f"format must be json or csv, got {output!r}", parameter="format")
    rollups = current_app.extensions["analytics"]
    rollups.update()  # the events stored since the last dashboard: cheap
    board = rollups.dashboard(start, end, top)
    if output == "csv":
        return Response(dashboard_csv(board), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename=analytics-{start}-{end}.csv"})
    return jsonify(board.to_dict())
