"""The app's live engine lives on the app object (no module globals); views ask for it here."""
from __future__ import annotations

from flask import Flask, current_app

from search_engine.engine import Engine
from search_engine.live import LiveEngine

EXTENSION = "search_engine"


def init_app(app: Flask, live: LiveEngine) -> None:
    app.extensions[EXTENSION] = live


def live_engine() -> LiveEngine:
    return current_app.extensions[EXTENSION]


def live_engine_of(app: Flask) -> LiveEngine:
    """The app's live engine outside a request (for what the app hands its stores)."""
    return app.extensions[EXTENSION]


def current_engine() -> Engine:
    return live_engine().get()
