"""The merchants' relevance workbench page (/workbench) and its login.

The page is one server-rendered HTML document with a small script (api/static/workbench.js)
that calls the workbench's JSON endpoints and /admin/rules. Nothing is fetched from outside
the server, so it works without internet access.
"""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from api import auth

bp = Blueprint("workbench", __name__, url_prefix="/workbench", template_folder="templates",
               static_folder="static", static_url_path="/static")


def _enabled() -> bool:
    return bool(current_app.config["SETTINGS"].admin_token)


def _login_page(message: str | None, status: int):
    return render_template("workbench_login.html", message=message, enabled=_enabled(),
                           next=_page_link(request.values.get("next") or request.full_path)), status


def _page_link(link: str) -> str:
    """A link to the page itself (with its query string), or the bare page: never elsewhere."""
    path, _, query = link.partition("?")
    page = url_for("workbench.page")
    # A line break cannot go into a Location header (nor should anything after it).
    return f"{page}?{query}" if path == page and query and not ({"\r", "\n"} & set(query)) else page


@bp.get("")
def page():
    if not _enabled():
        return _login_page("The workbench is disabled: no admin token is configured (SEARCH_ADMIN_TOKEN).", 403)
    if not auth.logged_in():
        return _login_page(None, 401)
    return render_template("workbench.html", csrf_token=auth.csrf_token())


@bp.post("/login")
def login():
    if not _enabled():
        return _login_page("The workbench is disabled: no admin token is configured (SEARCH_ADMIN_TOKEN).", 403)
    if not auth.log_in(request.form.get("token", "")):
        return _login_page("That is not the admin token.", 401)
    # Back to the comparison the link showed: the page keeps query and configurations in its URL.
    return redirect(_page_link(request.form.get("next", "")), code=303)


@bp.post("/logout")
def logout():
    auth.log_out()
    return redirect(url_for("workbench.page"), code=303)
