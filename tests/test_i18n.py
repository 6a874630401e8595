"""The one catalogue: PO files read with Babel, one function that picks the language."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from whalefall.i18n import catalogue, normalize

FIELDS = re.compile(r"\{(\w+)")


def entries(lang: str) -> dict[tuple[str, str], str]:
    return catalogue._messages(lang)


def test_every_language_has_every_word_with_the_same_fields():
    default = entries(catalogue.DEFAULT)
    assert len(default) > 300
    for lang in catalogue.languages():
        theirs = entries(lang)
        assert theirs.keys() == default.keys(), lang
        for key, text in default.items():
            assert set(FIELDS.findall(theirs[key])) == set(FIELDS.findall(text)), (lang, key)


def test_the_files_are_gettext_catalogues_babel_reads_without_fuzzy_or_empty_entries():
    for lang in catalogue.languages():
        path = catalogue._ROOT.joinpath(lang, "LC_MESSAGES", "messages.po")
        with path.open("rb") as f:
            cat = read_po(f, locale=lang)
        assert str(cat.locale) == lang
        assert not [m.id for m in cat if m.id and (m.fuzzy or not m.string)], lang


@pytest.mark.parametrize(
    ("asked", "picked"),
    [("en", "en"), ("en-US", "en"), ("EN_gb", "en"), ("zh", "zh"), ("zh-CN", "zh"), ("zh-Hans-CN", "zh")],
)
def test_regional_tags_fold_to_their_language(asked, picked):
    assert normalize(asked) == picked


@pytest.mark.parametrize("asked", ["fr", "", "xx-YY", None, 3])
def test_a_language_without_a_catalogue_is_not_guessed(asked):
    assert normalize(asked) is None


def test_the_api_and_the_console_agree_on_en_us(client, login, bearer):
    api = client.get("/scheduler/api/jobs/nope?lang=en-US", headers=bearer("viewer")).json
    assert api["message"] == "job 'nope' does not exist"
    login(client, "viewer")
    page = client.get("/scheduler/?lang=en-US").get_data(as_text=True)
    assert 'lang="en"' in page and catalogue.table("console", "en")["nav_runs"] in page


def test_a_third_language_is_a_file(tmp_path, monkeypatch):
    root = tmp_path / "translations"
    shutil.copytree(catalogue._ROOT, root)
    french = root / "fr" / "LC_MESSAGES" / "messages.po"
    french.parent.mkdir(parents=True)
    text = (root / "en" / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    text = text.replace('msgstr "job {id} created"', 'msgstr "tâche {id} créée"').replace(
        "Language: en", "Language: fr"
    )
    french.write_text(text, encoding="utf-8")
    monkeypatch.setattr(catalogue, "_ROOT", root)
    for cached in (catalogue.languages, catalogue._messages, catalogue.table):
        cached.cache_clear()
    try:
        assert "fr" in catalogue.languages() and normalize("fr-CA") == "fr"
        assert catalogue.text("api", "job_created", "fr").format(id="x") == "tâche x créée"
    finally:
        for cached in (catalogue.languages, catalogue._messages, catalogue.table):
            cached.cache_clear()


JOB = {"id": "nightly", "name": "Nightly", "function": "heartbeat", "trigger_type": "cron", "cron_hour": "2"}


@pytest.mark.parametrize(
    ("body", "lang", "message", "field"),
    [
        ({**JOB, "cron_hour": "25"}, "zh", "「时」字段：25 超出范围 0–23", "cron_hour"),
        ({**JOB, "cron_hour": "25"}, "en", "hour: 25 is out of range 0-23", "cron_hour"),
        (
            {**JOB, "cron_hour": None, "trigger_type": "cron", "cron_expression": "0 25 * * *"},
            "zh",
            "「时」字段：25 超出范围 0–23",
            "cron_expression",
        ),
        (
            {**JOB, "cron_day_of_week": "8"},
            "zh",
            "「星期」字段：8 超出范围 0–7（0 和 7 都是周日）",
            "cron_day_of_week",
        ),
        ({**JOB, "timeout_seconds": 0}, "zh", "「超时（秒）」：不能小于 1", "timeout_seconds"),
        ({**JOB, "timeout_seconds": 0}, "en", "timeout (s): must be at least 1", "timeout_seconds"),
        ({**JOB, "id": "bad id!"}, "zh", "「ID」：格式不对", "id"),
        ({**JOB, "name": "  "}, "zh", "「名称」：不能为空", "name"),
        ({**JOB, "nonsense": 1}, "zh", "nonsense：未知字段", "nonsense"),
        ({**JOB, "max_retries": "x"}, "en", "retries: expected a whole number", "max_retries"),
        (
            {**JOB, "trigger_type": "hourly"},
            "zh",
            "「触发方式」：应为 'cron', 'interval', 'date', 'dependency' 之一",
            "trigger_type",
        ),
    ],
)
def test_validation_messages_name_the_field_in_the_users_words(client, bearer, body, lang, message, field):
    answer = client.post(f"/scheduler/api/jobs?lang={lang}", json=body, headers=bearer("operator"))
    assert answer.status_code == 400
    assert answer.json["message"] == message
    assert field in answer.json["errors"]  # scripts still get the field's own name


def test_default_jobs_speak_the_users_language_until_a_user_renames_them(client, bearer, runtime):
    from whalefall.services import defaults

    defaults.seed(runtime)
    viewer, operator = bearer("viewer"), bearer("operator")
    en = client.get("/scheduler/api/jobs/sync_accounts?lang=en", headers=viewer).json["data"]
    assert en["name"] == "Account sync" and en["description"].startswith("Every day at 01:00")
    assert en["category"] == "sync" and en["category_label"] == "sync"
    zh = client.get("/scheduler/api/jobs/sync_accounts", headers=viewer).json["data"]
    assert zh["name"] == "账户同步" and zh["category_label"] == "同步"
    client.put("/scheduler/api/jobs/sync_accounts", json={"name": "我们的同步"}, headers=operator)
    renamed = client.get("/scheduler/api/jobs/sync_accounts?lang=en", headers=viewer).json["data"]
    assert renamed["name"] == "我们的同步" and renamed["description"].startswith("Every day")


# --- Named errors in the user's words (issue 7, item 6) ---------------------

CODE_JOB = {**JOB, "function": None, "code": "def execute_task():\n    return 1\n"}
DEPENDENT = {**JOB, "cron_hour": None, "trigger_type": "dependency"}
NOT_JSON = object()  # a body that does not parse
_NO_SETUP: list = []


def _case(lang, method, path, body, status, message, *, role="admin", setup=_NO_SETUP, errors=None):
    return pytest.param(role, setup, method, path, body, lang, status, message, errors, id=f"{path}-{lang}")


ERROR_CASES = [
    # jobs: built-in function or code
    _case(
        "zh",
        "POST",
        "/jobs",
        {**JOB, "code": "x"},
        400,
        "「函数」（内置任务）和「代码」只能填一个",
        errors="code",
    ),
    _case(
        "en",
        "POST",
        "/jobs",
        {**JOB, "code": "x"},
        400,
        "give either `function` (a built-in task) or `code`, not both",
        errors="code",
    ),
    _case(
        "zh",
        "POST",
        "/jobs",
        {**JOB, "function": None},
        400,
        "请填写「函数」（内置任务）、「代码」、「命令」或「脚本」",
    ),
    _case(
        "en",
        "POST",
        "/jobs",
        {**JOB, "function": None},
        400,
        "a job needs `function` (a built-in task), `code`, `command` or `script`",
    ),
    _case(
        "zh", "POST", "/jobs", CODE_JOB, 403, "只有管理员可以创建或修改代码任务和 Shell 任务", role="operator"
    ),
    _case(
        "en",
        "POST",
        "/jobs",
        CODE_JOB,
        403,
        "only an admin may create or change code and shell jobs",
        role="operator",
    ),
    _case("zh", "POST", "/jobs", JOB, 409, "ID 为 nightly 的任务已存在", setup=[("POST", "/jobs", JOB)]),
    _case(
        "en",
        "POST",
        "/jobs",
        JOB,
        409,
        "a job with id 'nightly' already exists",
        setup=[("POST", "/jobs", JOB)],
    ),
    # jobs: dependencies
    _case("zh", "POST", "/jobs", DEPENDENT, 400, "依赖触发需要在「依赖的任务」中至少填写一个任务"),
    _case(
        "en", "POST", "/jobs", DEPENDENT, 400, "a dependency trigger needs at least one job in `depends_on`"
    ),
    _case("zh", "POST", "/jobs", {**DEPENDENT, "depends_on": ["nightly"]}, 400, "任务 nightly 不能依赖自己"),
    _case(
        "en",
        "POST",
        "/jobs",
        {**DEPENDENT, "depends_on": ["nightly"]},
        400,
        "job 'nightly' cannot depend on itself",
    ),
    _case(
        "zh",
        "POST",
        "/jobs",
        {**DEPENDENT, "depends_on": ["ghost"]},
        400,
        "「依赖的任务」中有不存在的任务：ghost",
    ),
    _case(
        "en",
        "POST",
        "/jobs",
        {**DEPENDENT, "depends_on": ["ghost"]},
        400,
        "unknown job(s) in depends_on: ghost",
    ),
    _case(
        "zh",
        "PUT",
        "/jobs/a",
        {"trigger_type": "dependency", "depends_on": ["b"]},
        400,
        "任务依赖形成了环：a → b → a",
        setup=[
            ("POST", "/jobs", {**JOB, "id": "a"}),
            ("POST", "/jobs", {**DEPENDENT, "id": "b", "depends_on": ["a"]}),
        ],
    ),
    # code check: the user's language, the line kept in ``line``
    _case(
        "zh",
        "POST",
        "/code/check",
        {"code": "x = 1\n\ndef execute_task(:\n"},
        400,
        "第 3 行有 SyntaxError：invalid syntax",
    ),
    _case(
        "en",
        "POST",
        "/code/check",
        {"code": "x = 1\n\ndef execute_task(:\n"},
        400,
        "SyntaxError at line 3: invalid syntax",
    ),
    _case("zh", "POST", "/code/check", {"code": "  "}, 400, "代码为空"),
    _case("en", "POST", "/code/check", {"code": "  "}, 400, "code is empty"),
    _case(
        "zh", "POST", "/code/check", {"code": "x = 1\n"}, 400, "代码必须在顶层定义函数 def execute_task():"
    ),
    _case(
        "en",
        "POST",
        "/code/check",
        {"code": "x = 1\n"},
        400,
        "code must define a top-level function `def execute_task():`",
    ),
    _case("zh", "POST", "/jobs", {**CODE_JOB, "code": "  "}, 400, "代码为空", errors="code"),
    # the request body
    _case("zh", "POST", "/jobs", NOT_JSON, 400, "请求体不是合法的 JSON", errors="body"),
    _case("en", "POST", "/jobs", NOT_JSON, 400, "the body is not valid JSON", errors="body"),
    _case("zh", "POST", "/jobs", [1, 2], 400, "请求体应为 JSON 对象，实际为 list"),
    _case("en", "POST", "/jobs", [1, 2], 400, "the body must be a JSON object, got list"),
    # users and tokens
    _case(
        "zh",
        "POST",
        "/users",
        {"username": "a b", "password": "long-enough-1", "role": "viewer"},
        400,
        "用户名应为 1–64 个字母、数字、_、. 或 -",
        errors="username",
    ),
    _case(
        "en",
        "POST",
        "/users",
        {"username": "a b", "password": "long-enough-1", "role": "viewer"},
        400,
        "username must be 1–64 of letters, digits, '_', '.' or '-'",
        errors="username",
    ),
    _case(
        "zh",
        "POST",
        "/users",
        {"username": "dba", "password": "short", "role": "viewer"},
        400,
        "密码至少 10 个字符",
    ),
    _case(
        "en",
        "POST",
        "/users",
        {"username": "dba", "password": "short", "role": "viewer"},
        400,
        "password must be at least 10 characters",
    ),
    _case(
        "zh",
        "POST",
        "/users",
        {"username": "viewer", "password": "long-enough-1", "role": "viewer"},
        409,
        "用户 viewer 已存在",
    ),
    _case(
        "en",
        "POST",
        "/users",
        {"username": "viewer", "password": "long-enough-1", "role": "viewer"},
        409,
        "user 'viewer' already exists",
    ),
    _case("zh", "PUT", "/users/ghost", {"role": "viewer"}, 404, "用户 ghost 不存在"),
    _case("en", "PUT", "/users/ghost", {"role": "viewer"}, 404, "user 'ghost' does not exist"),
    _case("zh", "POST", "/tokens", {"username": "ghost"}, 404, "用户 ghost 不存在"),
    _case("zh", "POST", "/tokens/999/revoke", None, 404, "令牌 #999 不存在"),
    _case("en", "POST", "/tokens/999/revoke", None, 404, "token 999 does not exist"),
    # the fleet
    _case(
        "zh",
        "POST",
        "/instances/test",
        {"host": "db1", "username": "u"},
        400,
        "「数据库类型」：必填",
        errors="db_type",
    ),
    _case("en", "POST", "/instances/test", {"host": "db1", "username": "u"}, 400, "database type: required"),
    _case(
        "zh",
        "POST",
        "/instances",
        {"name": "ora", "db_type": "oracle", "host": "db1", "username": "u"},
        400,
        "Oracle 实例需要填写「数据库」：要连接的服务名",
        errors="database",
    ),
    _case(
        "en",
        "POST",
        "/instances",
        {"name": "ora", "db_type": "oracle", "host": "db1", "username": "u"},
        400,
        "an Oracle instance needs `database`: the service name to connect to",
    ),
    _case("zh", "GET", "/capacity?database=x", None, 400, "指定「数据库」时必须选择「实例」", role="viewer"),
    _case(
        "en",
        "GET",
        "/capacity?database=x",
        None,
        400,
        "instance_id: required when `database` is given",
        role="viewer",
    ),
    # runs
    _case(
        "zh",
        "GET",
        "/runs?since=yesterday",
        None,
        400,
        "「开始时间」：yesterday 不是 ISO 8601 日期时间",
        errors="since",
    ),
    _case(
        "en",
        "GET",
        "/runs?since=yesterday",
        None,
        400,
        "since: expected an ISO 8601 date-time, got 'yesterday'",
    ),
    _case(
        "zh",
        "GET",
        "/runs?until=2026-12-01T10:00",
        None,
        400,
        "「结束时间」：请带上 UTC 时差，如 2026-12-01T10:00+08:00",
    ),
    _case(
        "en",
        "GET",
        "/runs?until=2026-12-01T10:00",
        None,
        400,
        "until: give a UTC offset, e.g. 2026-12-01T10:00+08:00",
    ),
]


@pytest.mark.parametrize(
    ("role", "setup", "method", "path", "body", "lang", "status", "message", "errors"), ERROR_CASES
)
def test_named_errors_are_said_in_the_users_language(
    client, bearer, role, setup, method, path, body, lang, status, message, errors
):
    admin = bearer("admin")
    for verb, where, data in setup:
        done = client.open(f"/scheduler/api{where}", method=verb, json=data, headers=admin)
        assert done.status_code == 200, done.json
    url = f"/scheduler/api{path}{'&' if '?' in path else '?'}lang={lang}"
    if body is NOT_JSON:
        sent = {"data": b"{not json", "content_type": "application/json"}
    else:
        sent = {} if body is None else {"json": body}
    answer = client.open(url, method=method, headers=bearer(role), **sent)
    assert answer.status_code == status, answer.json
    assert answer.json["message"] == message
    if errors:
        assert answer.json["errors"][errors] == message  # the field's own name, the same words


def test_a_code_check_keeps_the_line_in_line(client, bearer):
    answer = client.post(
        "/scheduler/api/code/check",
        json={"code": "x = 1\n\ndef execute_task(:\n"},
        headers=bearer("operator"),
    )
    assert answer.status_code == 400 and answer.json["line"] == 3
    assert answer.json["message"].startswith("第 3 行")


def test_a_second_run_over_max_instances_is_said_in_the_users_language(client, bearer):
    operator = bearer("operator")
    assert (
        client.post("/scheduler/api/jobs", json={**JOB, "max_instances": 1}, headers=operator).status_code
        == 200
    )
    assert client.post("/scheduler/api/jobs/nightly/run", headers=operator).status_code == 200
    zh = client.post("/scheduler/api/jobs/nightly/run", headers=operator)
    en = client.post("/scheduler/api/jobs/nightly/run?lang=en", headers=operator)
    assert zh.status_code == en.status_code == 409
    assert zh.json["message"] == "任务 nightly 已在运行（1 个，最大并发 1）"
    assert en.json["message"] == "job 'nightly' is already running (1 of max_instances 1)"


HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
PLACEHOLDERS_AND_PUNCTUATION = re.compile(r"\{[^}]*\}|[\s\W_]")


def test_every_server_message_is_written_in_chinese_in_the_chinese_catalogue():
    untranslated = [
        key
        for (context, key), words in entries("zh").items()
        if context == "api" and not HAN.search(words) and PLACEHOLDERS_AND_PUNCTUATION.sub("", words)
    ]
    assert untranslated == []


KEY_IN_CODE = re.compile(r"""\bkey=["'](\w+)["']""")


def test_every_key_the_code_raises_is_in_every_catalogue():
    import whalefall

    root = Path(whalefall.__file__).parent
    used = {
        key for path in root.rglob("*.py") for key in KEY_IN_CODE.findall(path.read_text(encoding="utf-8"))
    }
    assert {"cron_out_of_range", "code_syntax", "body_not_json"} <= used  # the pattern still finds them
    for lang in catalogue.languages():
        known = {key for (context, key) in entries(lang) if context == "api"}
        assert sorted(used - known) == [], lang


def _raised(call):
    from whalefall.errors import WhalefallError

    with pytest.raises(WhalefallError) as caught:
        call()
    return caught.value


def test_errors_the_cli_and_the_runs_meet_have_their_words_too(runtime):
    """Sign-in, tokens, tasks, the import and the size aggregation: said in both languages with their fields."""
    from whalefall import errors
    from whalefall.i18n.messages import say_error
    from whalefall.services import transfer
    from whalefall.services.audit import Actor
    from whalefall.tasks import calculate_database_size_aggregations as aggregations

    def import_(entries):
        return lambda: transfer.import_jobs(runtime, entries, Actor.cli())

    cases = [
        (errors.InvalidCredentials(), "用户名或密码错误", "invalid username or password"),
        (
            errors.TooManyAttempts(),
            "登录失败次数过多，请稍后再试",
            "too many failed sign-in attempts; try again later",
        ),
        (errors.TokenNotFound(7), "令牌 #7 不存在", "token 7 does not exist"),
        (errors.UnknownTask("nope"), "没有名为 nope 的内置任务", "no built-in task named 'nope'"),
        (_raised(import_("x")), "应为任务列表（或含 jobs 列表的映射）", None),
        (_raised(import_([3])), "第 1 个任务（?）：应为映射", "job #1 (?): expected a mapping"),
        (
            _raised(import_([{**JOB, "max_retries": "x"}])),
            "第 1 个任务（nightly）：「重试次数」：应为整数",
            "job #1 (nightly): retries: expected a whole number",
        ),
        (
            _raised(import_([{**JOB, "function": None}])),
            "第 1 个任务（nightly）：请填写「函数」（内置任务）、「代码」、「命令」或「脚本」",
            "job #1 (nightly): a job needs `function` (a built-in task), `code`, `command` or `script`",
        ),
        (
            _raised(lambda: aggregations.target_day(None, "01/12")),
            "「日期」：01/12 不是 YYYY-MM-DD 格式的日期",
            None,
        ),
    ]
    for exc, zh, en in cases:
        assert say_error(exc.key, exc.params, "zh") == zh
        assert say_error(exc.key, exc.params, "en") == (en or exc.message)


def test_health_says_its_problems_in_the_callers_language(client):
    zh = client.get("/scheduler/api/health")
    en = client.get("/scheduler/api/health?lang=en")
    assert zh.status_code == 503 and zh.json["data"]["message"] == "没有正在运行的调度器"
    assert en.json["data"]["message"] == "no scheduler is running"


REASON_SAMPLES = {
    "limit": 1,
    "count": 2,
    "window": "db upgrade",
    "upstream": "nightly",
    "status": "failed",
    "run": 7,
    "late": "412",
    "grace": 300,
    "due": "2026-12-07T02:00:00+08:00",
    "more": 3,
    "node": "db-01:1234",
    "job": "nightly",
    "user": "admin",
    "seconds": 60,
    "task": "nope",
    "error": "boom: it broke",
}


def test_every_reason_a_run_is_given_reads_back_in_the_readers_language():
    from whalefall.i18n import reasons

    keys = catalogue.keys("reason")
    assert {"max_instances", "held_by_window", "missed_late", "interrupted_stopped"} <= keys
    for key in keys:
        stored = reasons.english(key, **REASON_SAMPLES)
        assert reasons.say(stored, "en") == stored
        shown = reasons.say(stored, "zh")
        params = {**REASON_SAMPLES, "status": "失败"}
        assert shown == catalogue.text("reason", key, "zh").format(**params), key
        assert HAN.search(shown), key
    # A task's own words are not the product's: shown as written.
    assert reasons.say("timed out after lunch, maybe", "zh") == "timed out after lunch, maybe"
    assert reasons.say(None, "zh") is None


def test_a_run_skipped_by_the_scheduler_says_why_in_the_users_language(client, bearer, runtime):
    from datetime import UTC, datetime, timedelta

    from whalefall.models import TriggerSource
    from whalefall.services import claims

    operator = bearer("operator")
    assert (
        client.post("/scheduler/api/jobs", json={**JOB, "max_instances": 1}, headers=operator).status_code
        == 200
    )
    first = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    claims.claim_scheduled(runtime, "nightly", first, source=TriggerSource.SCHEDULE, node="n1")
    skipped = claims.claim_scheduled(
        runtime, "nightly", first + timedelta(minutes=1), source=TriggerSource.SCHEDULE, node="n1"
    )
    path = f"/scheduler/api/runs/{skipped.run_id}"
    zh = client.get(path, headers=operator).json["data"]["error_message"]
    en = client.get(f"{path}?lang=en", headers=operator).json["data"]["error_message"]
    assert en == "max_instances (1) reached: 1 run(s) still active"  # as stored, for scripts and logs
    assert zh == "已达到最大并发（1）：仍有 1 个运行未结束"
    listed = client.get("/scheduler/api/runs?job_id=nightly", headers=operator).json["data"]["runs"]
    assert zh in [r["error_message"] for r in listed]
    page = client.get("/scheduler/runs", headers=operator)
    assert zh in page.get_data(as_text=True)
