"""The one JSON envelope every API response uses."""

from __future__ import annotations

from typing import Any

from flask import jsonify


def ok(data: Any = None, message: str = "ok"):
    return jsonify({"success": True, "data": data, "message": message})


def error(status: int, message: str, errors: dict[str, str] | None = None, **extra: Any):
    body = {"success": False, "message": message, "code": status, "errors": errors or {}}
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    return response


def listing(name: str, items: list[Any], total: int, *, page: int = 1, per_page: int | None = None) -> Any:
    """A list in the envelope: ``{name: [...], "total", "page", "per_page"}``.

    A list that is not paged (users, tokens, tasks) is one page holding everything.
    """
    return ok({name: items, "total": total, "page": page, "per_page": per_page or max(total, len(items))})
