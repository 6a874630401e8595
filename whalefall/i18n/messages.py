"""What the server says, in the caller's language (``?lang=``, the ``lang`` cookie, or the setting).

Messages name a field in the user's words (「时」, not ``cron_hour``); the
``errors`` object of a 400 keeps the field's own name as its key, for scripts.
"""

from __future__ import annotations

from whalefall.i18n import catalogue, current_language


def say(key: str, lang: str | None = None, /, **params: object) -> str:
    """The server's message ``key`` with its fields filled in, in ``lang`` or the request's language."""
    return catalogue.text("api", key, lang or current_language()).format(**params)


def field_label(name: str, lang: str | None = None) -> str:
    """A request field in the user's words (``cron_hour`` → 「时」); unknown fields keep their name."""
    lang = lang or current_language()
    known = catalogue.keys("field")
    # ``notify.channels`` is「告警渠道」; ``tags.2`` is「标签」.
    for part in (name.rsplit(".", 1)[-1], name.split(".", 1)[0]):
        if part in known:
            return catalogue.text("api", "field_named", lang).format(
                label=catalogue.text("field", part, lang)
            )
    return name


# pydantic's error types, grouped onto the catalogue's ``v_*`` messages.
_VALIDATION_KEYS = {
    "int_parsing": "v_int",
    "int_type": "v_int",
    "int_from_float": "v_int",
    "float_parsing": "v_float",
    "float_type": "v_float",
    "bool_parsing": "v_bool",
    "bool_type": "v_bool",
    "model_type": "v_dict_type",
    "model_attributes_type": "v_dict_type",
}


def validation_message(error_type: str, context: dict[str, object] | None, lang: str | None = None) -> str:
    """One pydantic error in the user's words, with the limits it names (``{ge}``, ``{max_length}`` …)."""
    lang = lang or current_language()
    key = _VALIDATION_KEYS.get(error_type, f"v_{error_type}")
    if key not in catalogue.keys("api"):
        key = "v_other"
    params = {k: v for k, v in (context or {}).items() if isinstance(v, str | int | float)}
    if isinstance(params.get("expected"), str):  # pydantic joins the choices with an English "or"
        params["expected"] = str(params["expected"]).replace(" or ", ", ")
    try:
        return catalogue.text("api", key, lang).format(**params)
    except (KeyError, IndexError):
        return catalogue.text("api", "v_other", lang)


def say_error(key: str, params: dict[str, object], lang: str | None = None) -> str:
    """A named error's message: its ``field`` in the user's words, its ``hint`` from the catalogue."""
    lang = lang or current_language()
    words = dict(params)
    if isinstance(words.get("field"), str):
        words["field"] = field_label(str(words["field"]), lang)
    if isinstance(words.get("hint"), str):
        words["hint"] = catalogue.text("api", f"hint_{words['hint']}", lang)
    detail = words.get("detail")
    if isinstance(detail, dict):
        words["detail"] = _nested(detail, lang)
    return say(key, lang, **words)


def _nested(error: dict[str, object], lang: str) -> str:
    """An error inside an error (an imported entry's own), said in ``lang`` too."""
    if "validation" in error:
        context = error.get("ctx")
        return validation_message(
            str(error["validation"]), context if isinstance(context, dict) else None, lang
        )
    if error.get("key"):
        params = error.get("params")
        return say_error(str(error["key"]), params if isinstance(params, dict) else {}, lang)
    return str(error.get("message", ""))
