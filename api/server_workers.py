"""gunicorn workers whose size-limit errors are the API's JSON errors.

gunicorn refuses a request line longer than limit_request_line (414) and too many or too
large headers (431) before the app sees the request, and answers with its own HTML page. A
client of this API that sends a long URL or big cookies gets the API's error shape instead
(api/errors.py: {"error": {"status", "message", "parameter"}}). Malformed HTTP, which no API
client sends, keeps gunicorn's own answer.
"""
from __future__ import annotations

import json

from gunicorn import util
from gunicorn.http.errors import LimitRequestHeaders, LimitRequestLine
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

LIMIT_ERRORS = {  # exception: (status, reason, the parameter it names, what was too big)
    LimitRequestLine: (414, "URI Too Long", "url", "the request line is longer"),
    LimitRequestHeaders: (431, "Request Header Fields Too Large", "headers", "the request's headers are more or larger"),
}


def limit_error_response(exc: Exception) -> bytes | None:
    """The whole HTTP response for a size-limit error; None for any other error."""
    for kind, (status, reason, parameter, too_big) in LIMIT_ERRORS.items():
        if isinstance(exc, kind):
            message = f"{too_big} than this server reads: {exc}"
            body = json.dumps({"error": {"status": status, "message": message, "parameter": parameter}})
            return (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n{body}").encode("latin-1")
    return None


class JsonLimitErrors:
    """Mixin for a gunicorn worker: size-limit errors answered as above."""

    def handle_error(self, req, client, addr, exc):
        response = limit_error_response(exc)
        if response is None:
            return super().handle_error(req, client, addr, exc)
        self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        if req is not None:  # raised reading what followed an answered request (a chunked body's
            return           # trailers): that request has its response; a second one is noise
        try:
            util.write_nonblock(client, response)
        except Exception:  # the client may be gone; there is no one left to tell
            self.log.debug("Failed to send error message.")


class JsonErrorsSyncWorker(JsonLimitErrors, SyncWorker):
    pass


class JsonErrorsThreadWorker(JsonLimitErrors, ThreadWorker):
    pass
