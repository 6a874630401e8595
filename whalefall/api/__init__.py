"""The REST API under ``/scheduler/api``: JSON in, one envelope out.

Errors become the JSON envelope in ``whalefall.web.errors``, once for every
face: a request under ``/scheduler/api/`` never gets an HTML page or a traceback.
"""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, request
from pydantic import BaseModel
from werkzeug.exceptions import BadRequest

from whalefall.errors import InvalidInput
from whalefall.web.envelope import ok

PREFIX = "/scheduler/api"

bp = Blueprint("api", __name__, url_prefix=PREFIX)


def json_body() -> dict[str, Any]:
    """The request's JSON object; 400 for malformed JSON or JSON that is not an object."""
    if not request.data:
        return {}
    try:
        data = request.get_json(force=True)
    except BadRequest:  # werkzeug raises BadRequest with an HTML body: say it in our words
        raise InvalidInput("the body is not valid JSON", field="body", key="body_not_json") from None
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise InvalidInput(
            f"the body must be a JSON object, got {kind}",
            field="body",
            key="body_not_object",
            params={"type": kind},
        )
    return data


M = TypeVar("M", bound=BaseModel)


@bp.after_request
def options_in_the_envelope(response: Response) -> Response:
    """Flask answers OPTIONS itself with an empty body; here it is JSON too (the methods allowed)."""
    if request.method == "OPTIONS" and not response.is_json:
        methods = sorted(response.allow)
        answer = ok({"methods": methods})
        answer.headers["Allow"] = ", ".join(methods)
        return answer
    return response


def parse(model: type[M], data: dict[str, Any]) -> M:
    return model.model_validate(data)


def init_app(app: Flask) -> None:
    from whalefall.api import (  # noqa: F401  (register routes)
        admin,
        alerts,
        fleet,
        fleet_reports,
        groups,
        jobs,
        openapi,
        runs,
        system,
        templates,
        transfer,
        versions,
    )

    app.register_blueprint(bp)
