"""Errors to responses, in one place: the JSON envelope under ``/scheduler/api/``, an HTML page elsewhere.

Named exceptions (``whalefall.errors``) carry their status and catalogue key;
pydantic's ``ValidationError`` is a 400 naming the field; werkzeug's HTTP errors
(404, 405, 413) are said in our words; a database that cannot be reached (down,
restarting, cut off, its pool exhausted) is a 503 "database unavailable", never a
500. Anything else is a logged 500 that shows no traceback. Every message is in
the request's language.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, make_response, render_template, request
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from whalefall.errors import WhalefallError
from whalefall.i18n import pages
from whalefall.i18n.messages import field_label, say, say_error, validation_message
from whalefall.web.envelope import error

log = logging.getLogger(__name__)
API_PREFIX = "/scheduler/api"
RETRY_AFTER_SECONDS = 5  # what a 503 for an unreachable database tells clients to wait


def wants_json() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def _respond(status: int, message: str, errors: dict[str, str] | None = None, **extra: Any) -> Any:
    if wants_json():
        return error(status, message, errors, **extra)
    return page(status, message)


def page(status: int, message: str) -> Any:
    """The HTML error page: the status, the message, a way back."""
    title = say(f"http_{status}") if f"http_{status}" in _TITLED else str(status)
    return render_template("auth/message.html", s=pages.strings(), title=title, message=message), status


_TITLED = frozenset(
    {"http_400", "http_403", "http_404", "http_405", "http_409", "http_413", "http_500", "http_503"}
)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)] or [str(loc[0]) if loc else "body"]
    return ".".join(parts)


def _validation_error(exc: ValidationError) -> Any:
    errors: dict[str, str] = {}
    for err in exc.errors():
        errors.setdefault(_field_name(err["loc"]), validation_message(err["type"], err.get("ctx")))
    name, detail = next(iter(errors.items()))
    return _respond(400, say("invalid", field=field_label(name), detail=detail), errors)


def _domain_error(exc: WhalefallError) -> Any:
    message = say_error(exc.key, exc.params) if exc.key else exc.message
    # A field error that repeats the message follows its translation.
    errors = {field: (message if text == exc.message else text) for field, text in exc.errors.items()}
    extra: dict[str, Any] = {}
    for name in ("line", "dependents"):  # a code error's line; the jobs a 409 names
        if getattr(exc, name, None):
            extra[name] = getattr(exc, name)
    return _respond(exc.status, message, errors, **extra)


_HTTP_MESSAGES = {404: "no_endpoint", 405: "method", 413: "too_large"}


def _http_error(exc: HTTPException) -> Any:
    code = exc.code or 500
    if not wants_json() and code == 404:
        return page(404, say("no_page"))
    if code in _HTTP_MESSAGES:
        return _respond(code, say(_HTTP_MESSAGES[code], method=request.method))
    return _respond(code, exc.description or exc.name)


def database_unavailable(exc: BaseException) -> bool:
    """Does ``exc`` say the database cannot be reached now, rather than that a statement is wrong?

    An ``OperationalError`` (refused, reset, timed out, server shutting down, locked) or an
    ``InterfaceError`` (a connection already closed), any driver error SQLAlchemy recognised as a
    disconnect, and a connection pool that gave none in time.
    """
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _database_error(exc: Exception) -> Any:
    if not database_unavailable(exc):
        return _unexpected(exc)
    log.warning("database unavailable on %s %s: %s", request.method, request.path, exc.__class__.__name__)
    response = _respond(503, say("database_unavailable"))
    if isinstance(response, tuple):
        response = make_response(*response)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _unexpected(exc: Exception) -> Any:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return _respond(500, say("internal"))


def init_app(app: Flask) -> None:
    app.register_error_handler(ValidationError, _validation_error)
    app.register_error_handler(WhalefallError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DBAPIError, _database_error)
    app.register_error_handler(PoolTimeout, _database_error)
    app.register_error_handler(Exception, _unexpected)
