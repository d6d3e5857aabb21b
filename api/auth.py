"""Who may use the admin endpoints and the workbench: whoever holds the admin token.

Scripts send it as `Authorization: Bearer <token>`. A merchant's browser logs in once on the
workbench page and then carries a signed session cookie (SameSite=Lax, HttpOnly). A
cookie-authenticated request that changes something must also carry the page's CSRF token in
X-CSRF-Token, so another site cannot make a logged-in browser edit rules or judgments.
Tokens are compared in constant time; with no token configured everything here is disabled
(403), never open.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app, request, session

from api.errors import ApiError

SESSION_KEY = "admin"
CSRF_KEY = "csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def admin_token() -> str:
    token = current_app.config["SETTINGS"].admin_token
    if not token:
        raise ApiError("admin endpoints are disabled: no admin token is configured (SEARCH_ADMIN_TOKEN)",
                       status=403)
    return token


def session_secret(settings) -> str | None:
    """The key that signs the login cookie: set, or derived from the admin token."""
    if settings.session_secret:
        return settings.session_secret
    if settings.admin_token:
        return hmac.new(settings.admin_token.encode(), b"workbench session", hashlib.sha256).hexdigest()
    return None


def _token_digest(token: str) -> str:
    # The cookie is signed, not encrypted: it holds a digest, never the token.
    return hashlib.sha256(b"workbench login:" + token.encode()).hexdigest()


def token_matches(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


def log_in(given: str) -> bool:
    token = admin_token()
    if not token_matches(given, token):
        return False
    session.clear()
    session[SESSION_KEY] = _token_digest(token)
    session[CSRF_KEY] = secrets.token_urlsafe(24)
    return True


def log_out() -> None:
    session.clear()


def logged_in() -> bool:
    digest = session.get(SESSION_KEY)
    return bool(digest) and hmac.compare_digest(digest, _token_digest(admin_token()))


def csrf_token() -> str:
    return session.get(CSRF_KEY, "")


def require_admin() -> None:
    """Bearer token, or a logged-in workbench session (plus the CSRF header when writing)."""
    token = admin_token()
    header = request.headers.get("Authorization")
    if header is None and logged_in():
        if request.method not in SAFE_METHODS and not hmac.compare_digest(
                request.headers.get(CSRF_HEADER, "").encode(), csrf_token().encode()):
            raise ApiError(f"a change from the workbench needs the page's {CSRF_HEADER} header; reload the page",
                           status=403, parameter=CSRF_HEADER)
        return
    scheme, _, credentials = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token_matches(credentials, token):
        raise ApiError("a valid 'Authorization: Bearer <token>' header is required", status=401,
                       parameter="Authorization")
