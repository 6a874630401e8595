"""Headers every answer carries, and where the client's address comes from.

- ``X-Content-Type-Options: nosniff`` on everything: a browser never guesses
  a type we did not send (a run's log read as HTML, say).
- ``Cache-Control: no-store`` on the API and the sign-in pages: answers hold
  jobs' code, users and tokens, and the sign-in form holds a CSRF token;
  neither a shared cache nor the browser's history may keep them.
- ``Strict-Transport-Security`` when the session cookie is marked secure,
  which is the setting saying "this site is served over HTTPS".

Behind ``WHALEFALL_TRUSTED_PROXIES`` reverse proxies, Werkzeug's ``ProxyFix``
takes the client's address (and scheme) from that many ``X-Forwarded-For``
(``-Proto``) entries, so the sign-in throttle and the audit log see the real
client, not the proxy. With 0 (the default) those headers are ignored: any
client could write them.
"""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

API_PREFIX = "/scheduler/api/"
NO_STORE_PREFIXES = (API_PREFIX, "/auth/")
HSTS = "max-age=31536000"  # a year


def init_app(app: Flask, *, trusted_proxies: int = 0, secure_cookie: bool = False) -> None:
    if trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies
        )

    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        if request.path.startswith(NO_STORE_PREFIXES) or request.path == API_PREFIX.rstrip("/"):
            response.headers["Cache-Control"] = "no-store"
        if secure_cookie:
            response.headers["Strict-Transport-Security"] = HSTS
        return response
