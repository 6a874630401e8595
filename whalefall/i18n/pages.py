"""The words of the pages outside the console (sign-in, error pages), in zh-CN (default) and English.

The language is :func:`whalefall.current_language`'s.
"""

from __future__ import annotations

from whalefall.i18n import current_language

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


def strings(language: str | None = None) -> dict[str, str]:
    return STRINGS[language or current_language()]
