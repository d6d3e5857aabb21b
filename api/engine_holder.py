"""The app's engine lives on the app object (no module globals); views ask for it here."""
from __future__ import annotations

from flask import Flask, current_app

from search_engine.engine import Engine

EXTENSION = "search_engine"


def init_app(app: Flask, engine: Engine) -> None:
    app.extensions[EXTENSION] = engine


def current_engine() -> Engine:
    return current_app.extensions[EXTENSION]
