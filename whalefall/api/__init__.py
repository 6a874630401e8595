"""The REST API under ``/scheduler/api``: JSON in, one envelope out.

Errors are mapped to HTTP here, once: named exceptions from the services,
pydantic validation errors, and Werkzeug's HTTP errors — so a request under
``/scheduler/api/`` never gets an HTML page or a traceback.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from flask import Blueprint, Flask, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import BadRequest, HTTPException

from whalefall.errors import InvalidInput, WhalefallError
from whalefall.i18n.messages import say
from whalefall.web.envelope import error

log = logging.getLogger(__name__)
PREFIX = "/scheduler/api"

bp = Blueprint("api", __name__, url_prefix=PREFIX)


def json_body() -> dict[str, Any]:
    """The request's JSON object; 400 for malformed JSON or JSON that is not an object."""
    if not request.data:
        return {}
    try:
        data = request.get_json(force=True)
    except BadRequest:  # werkzeug raises BadRequest with an HTML body: say it in our words
        raise InvalidInput("the body is not valid JSON", field="body") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"the body must be a JSON object, got {type(data).__name__}", field="body")
    return data


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: dict[str, Any]) -> M:
    return model.model_validate(data)


def query(model: type[M]) -> M:
    return model.model_validate(request.args.to_dict())


def _field_name(loc: tuple) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)] or [str(loc[0]) if loc else "body"]
    return ".".join(parts)


def _validation_error(exc: ValidationError):
    errors: dict[str, str] = {}
    for err in exc.errors():
        name = _field_name(err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = say("unknown_field")
        elif err["type"] == "missing":
            msg = say("required")
        errors.setdefault(name, msg)
    first = next(iter(errors.items()))
    return error(400, say("invalid", field=first[0], detail=first[1]), errors)


def _domain_error(exc: WhalefallError):
    message = say(exc.key, **exc.params) if exc.key else exc.message
    # A field error that repeats the message follows its translation.
    errors = {field: (message if text == exc.message else text) for field, text in exc.errors.items()}
    return error(exc.status, message, errors, **({"line": exc.line} if getattr(exc, "line", None) else {}))


def _http_error(exc: HTTPException):
    if not request.path.startswith(PREFIX + "/") and request.path != PREFIX:
        return exc
    code = exc.code or 500
    messages = {404: ("no_endpoint", {}), 405: ("method", {"method": request.method}), 413: ("too_large", {})}
    if code in messages:
        key, params = messages[code]
        return error(code, say(key, **params))
    return error(code, exc.description or exc.name)


def _unexpected(exc: Exception):
    if not request.path.startswith(PREFIX):
        raise exc
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error(500, say("internal"))


def init_app(app: Flask) -> None:
    from whalefall.api import admin, fleet, jobs, openapi, runs, system  # noqa: F401  (register routes)

    app.register_blueprint(bp)
    app.register_error_handler(ValidationError, _validation_error)
    app.register_error_handler(WhalefallError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
