"""Every error leaves the API as JSON: {"error": {"status", "message", "parameter"?}}."""
from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    def __init__(self, message: str, status: int = 400, parameter: str | None = None,
                 details: list | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.parameter = parameter
        self.details = details  # one entry per bad item of a batch


def _body(status: int, message: str, parameter: str | None = None, details: list | None = None):
    error = {"status": status, "message": message}
    if parameter is not None:  # "" too: a query string can hold a parameter with no name ("&=1")
        error["parameter"] = parameter
    if details:
        error["details"] = details
    return jsonify({"error": error}), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        return _body(error.status, error.message, error.parameter, error.details)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return _body(error.code or 500, error.description or error.name)
