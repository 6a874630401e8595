"""The few strings the sign-in pages need, in zh-CN (default) and English.

The language is ``?lang=`` when given, else the ``lang`` cookie, else the
configured default. ``remember_language`` sets the cookie when ``?lang=`` was given.
"""

from __future__ import annotations

from flask import Response, current_app, request

LANGUAGES = ("zh", "en")
COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600

STRINGS: dict[str, dict[str, str]] = {
    "zh": {
        "html_lang": "zh-CN",
        "title": "登录",
        "product": "鲸落 · 任务调度",
        "username": "用户名",
        "password": "密码",
        "submit": "登录",
        "invalid": "用户名或密码错误",
        "missing": "请输入用户名和密码",
        "throttled": "登录失败次数过多，请一分钟后再试",
        "csrf": "页面已过期，请重新提交",
        "forbidden_title": "权限不足",
        "forbidden": "此页面需要 {role} 角色",
        "bad_request_title": "请求无效",
        "back": "返回",
        "switch": "English",
    },
    "en": {
        "html_lang": "en",
        "title": "Sign in",
        "product": "Whalefall · Job scheduler",
        "username": "Username",
        "password": "Password",
        "submit": "Sign in",
        "invalid": "Invalid username or password",
        "missing": "Enter a username and a password",
        "throttled": "Too many failed sign-in attempts; try again in a minute",
        "csrf": "The form has expired; please submit it again",
        "forbidden_title": "Forbidden",
        "forbidden": "This page needs the {role} role",
        "bad_request_title": "Bad request",
        "back": "Back",
        "switch": "中文",
    },
}


def current_language() -> str:
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    cookie = request.cookies.get(COOKIE)
    if cookie in LANGUAGES:
        return cookie
    default = getattr(current_app.extensions.get("whalefall"), "settings", None)
    language = getattr(default, "language", "zh")
    return language if language in LANGUAGES else "zh"


def strings(language: str | None = None) -> dict[str, str]:
    return STRINGS[language or current_language()]


def remember_language(response: Response) -> Response:
    """Keep ``?lang=`` in a cookie so the next page speaks the same language."""
    asked = request.args.get("lang")
    if asked in LANGUAGES and request.cookies.get(COOKIE) != asked:
        response.set_cookie(
            COOKIE,
            asked,
            max_age=COOKIE_MAX_AGE,
            samesite="Lax",
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        )
    return response
