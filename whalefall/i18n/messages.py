"""The API's own messages in the caller's language (``?lang=``, the ``lang`` cookie, or the setting).

Field-level details keep the field's name and the rule that failed; the
sentence around them follows the language, Simplified Chinese by default.
"""

from __future__ import annotations

from whalefall.i18n import current_language

CATALOG: dict[str, dict[str, str]] = {
    "job_created": {"zh": "任务 {id} 已创建", "en": "job {id} created"},
    "job_updated": {"zh": "任务 {id} 已更新", "en": "job {id} updated"},
    "job_deleted": {"zh": "任务 {id} 已删除", "en": "job {id} deleted"},
    "job_paused": {"zh": "任务 {id} 已暂停", "en": "job {id} paused"},
    "job_resumed": {"zh": "任务 {id} 已恢复", "en": "job {id} resumed"},
    "run_queued": {"zh": "任务 {id} 的运行 #{run} 已排队", "en": "run {run} of job {id} queued"},
    "run_cancelled": {"zh": "运行 #{run} 已取消", "en": "run {run}: cancelled"},
    "run_ended": {"zh": "运行 #{run} 已结束（{status}）", "en": "run {run} has already ended ({status})"},
    "run_cancel_requested": {"zh": "已请求取消运行 #{run}", "en": "run {run}: cancellation requested"},
    "code_valid": {"zh": "代码语法正确", "en": "code is valid"},
    "job_not_found": {"zh": "任务 {id} 不存在", "en": "job {id!r} does not exist"},
    "run_not_found": {"zh": "运行 #{id} 不存在", "en": "run {id} does not exist"},
    "not_signed_in": {"zh": "未登录", "en": "not signed in"},
    "forbidden": {
        "zh": "需要 {role} 角色（当前为 {yours}）",
        "en": "this needs the {role} role (you are {yours})",
    },
    "no_page": {"zh": "没有这个页面", "en": "there is no such page"},
    "http_400": {"zh": "请求无效", "en": "Bad request"},
    "http_403": {"zh": "权限不足", "en": "Forbidden"},
    "http_404": {"zh": "找不到页面", "en": "Not found"},
    "http_405": {"zh": "不支持的方法", "en": "Method not allowed"},
    "http_409": {"zh": "冲突", "en": "Conflict"},
    "http_413": {"zh": "请求过大", "en": "Request too large"},
    "http_500": {"zh": "服务器错误", "en": "Server error"},
    "no_endpoint": {"zh": "没有这个 API 地址", "en": "no such API endpoint"},
    "method": {"zh": "此处不支持 {method} 方法", "en": "method {method} not allowed here"},
    "too_large": {"zh": "请求体超过 1 MiB", "en": "the request body is over 1 MiB"},
    "internal": {"zh": "服务器内部错误，请查看服务日志", "en": "internal error; see the server log"},
    "required": {"zh": "必填", "en": "required"},
    "unknown_field": {"zh": "未知字段", "en": "unknown field"},
    "invalid": {"zh": "{field}：{detail}", "en": "{field}: {detail}"},
    # the database fleet
    "instance_not_found": {"zh": "实例 #{id} 不存在", "en": "instance {id} does not exist"},
    "instance_name_taken": {
        "zh": "已存在名为 {name} 的实例",
        "en": "an instance named {name!r} already exists",
    },
    "session_not_found": {"zh": "会话 #{id} 不存在", "en": "sync session {id} does not exist"},
    "instance_created": {"zh": "实例 {name} 已创建", "en": "instance {name} created"},
    "instance_updated": {"zh": "实例 {name} 已更新", "en": "instance {name} updated"},
    "instance_deleted": {"zh": "实例 #{id} 已删除", "en": "instance {id} deleted"},
    "instance_connected": {"zh": "连接成功：{version}", "en": "connected: {version}"},
    "instance_not_connected": {"zh": "连接失败：{error}", "en": "cannot connect: {error}"},
    # users and tokens (the admin pages)
    "user_created": {"zh": "用户 {name} 已创建", "en": "user {name} created"},
    "user_updated": {"zh": "用户 {name} 已更新", "en": "user {name} updated"},
    "own_role": {"zh": "不能修改自己的角色", "en": "you cannot change your own role"},
    "own_account": {"zh": "不能停用自己的账号", "en": "you cannot disable your own account"},
    "token_created": {
        "zh": "已为 {user} 创建令牌 {prefix}…，请立即复制：它只显示这一次",
        "en": "token {prefix}… created for {user}; copy it now, it is shown only once",
    },
    "token_revoked": {"zh": "令牌 {prefix}… 已吊销", "en": "token {prefix}… revoked"},
}


def say(key: str, **params: object) -> str:
    return CATALOG[key][current_language()].format(**params)
