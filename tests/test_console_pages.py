"""The console's pages through Flask's test client: who sees what, escaping, headers, assets.

What only a browser can show (scripts running, dialogs, live refresh) is in
``tests/e2e/test_console_browser.py``.
"""

from __future__ import annotations

import json
import re

import pytest

from whalefall.domain.jobspec import JobCreate
from whalefall.i18n import catalogue
from whalefall.models import Run, RunStatus, TriggerSource
from whalefall.services import jobs as job_service
from whalefall.services import runs as run_service
from whalefall.services import tokens as token_service
from whalefall.services.audit import Actor

ZH = catalogue.table("console", "zh")
EN = catalogue.table("console", "en")

XSS = "<img src=x onerror=alert(1)>"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
PAGES = [
    "/scheduler/",
    "/scheduler/runs",
    "/scheduler/admin/users",
    "/scheduler/admin/tokens",
    "/scheduler/admin/audit",
    "/scheduler/api-docs",
]
ADMIN_PAGES = ["/scheduler/admin/users", "/scheduler/admin/tokens", "/scheduler/admin/audit"]


def make_job(runtime, job_id="xss", name=XSS, **fields):
    data = {
        "id": job_id,
        "name": name,
        "description": XSS,
        "category": "ops",
        "trigger_type": "cron",
        "cron_expression": "30 2 * * *",
        "function": "heartbeat",
        **fields,
    }
    return job_service.create(runtime, JobCreate(**data), Actor("admin", "admin"))


def make_run(runtime, job_id, status=RunStatus.SUCCESS, log="", **fields) -> int:
    run = run_service.enqueue(runtime, job_id, source=TriggerSource.MANUAL, actor=Actor("admin", "admin"))
    with runtime.db.begin() as session:
        row = session.get(Run, run.id)
        row.status, row.log = status.value, log
        for name, value in fields.items():
            setattr(row, name, value)
    return run.id


def html_of(client, path) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


# --- signing in and roles ---------------------------------------------------------------------


@pytest.mark.parametrize("path", [*PAGES, "/scheduler/runs/1"])
def test_every_console_page_sends_an_anonymous_visitor_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.location.startswith("/auth/login?next=")


@pytest.mark.parametrize("name", ["viewer", "operator"])
@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_are_forbidden_below_admin(client, login, name, path):
    login(client, name)
    response = client.get(path)
    assert response.status_code == 403
    assert "admin" in response.get_data(as_text=True)


def test_a_viewer_sees_the_jobs_but_no_write_action(client, login, runtime):
    make_job(runtime)
    login(client, "viewer")
    html = html_of(client, "/scheduler/")
    assert 'data-job-id="xss"' in html
    for marker in (
        'data-action="run"',
        'data-action="pause"',
        'data-action="edit"',
        'data-action="delete"',
        'id="new-job"',
        'id="job-dialog"',
        "job-editor.js",
        "codemirror",
    ):
        assert marker not in html, marker
    assert "/scheduler/admin/users" not in html  # no admin menu either


def test_an_operator_gets_the_actions_but_no_code_option(client, login, runtime):
    make_job(runtime)
    login(client, "operator")
    html = html_of(client, "/scheduler/")
    assert 'data-action="run"' in html and 'id="new-job"' in html and 'id="job-dialog"' in html
    assert 'id="kind-code"' not in html and 'id="f-code"' not in html


def test_an_operator_cannot_edit_a_code_job_from_its_card(client, login, runtime):
    job_service.create(
        runtime,
        JobCreate(
            id="script",
            name="Script",
            trigger_type="interval",
            interval_minutes=5,
            code="def execute_task():\n    return 1\n",
        ),
        Actor("admin", "admin"),
    )
    login(client, "operator")
    html = html_of(client, "/scheduler/")
    card = html[html.index('data-job-id="script"') :]
    edit = re.search(r'<button[^>]*data-action="edit"', card).group(0)
    assert "d-none" in edit
    assert ">代码<" in card


def test_an_admin_gets_the_code_editor_and_the_admin_menu(client, login):
    login(client, "admin")
    html = html_of(client, "/scheduler/")
    assert 'id="kind-code"' in html and 'id="f-code"' in html and "codemirror.js" in html
    assert "/scheduler/admin/users" in html and "/scheduler/admin/audit" in html


# --- the jobs page ----------------------------------------------------------------------------


def test_a_job_card_shows_state_id_function_trigger_next_and_last_run(client, login, runtime):
    make_job(runtime, "nightly", "Nightly check")
    make_run(runtime, "nightly", duration_seconds=1.5)
    login(client, "viewer")
    html = html_of(client, "/scheduler/")
    card = html[html.index('data-job-id="nightly"') :]
    card = card[: card.index("</article>")]
    assert "Nightly check" in card and "启用" in card and "heartbeat" in card
    assert "每天 02:30 执行" in card
    assert re.search(r'data-f="next_run_time">\d{4}-\d\d-\d\d 02:30:00<', card)
    assert "wf-status-success" in card and "成功" in card and "1.5 s" in card
    assert 'href="/scheduler/runs?job_id=nightly"' in card


def test_a_paused_job_shows_its_badge_and_a_resume_button(client, login, runtime):
    make_job(runtime, "sleepy", "Sleepy")
    job_service.pause(runtime, "sleepy", Actor("admin", "admin"))
    login(client, "operator")
    card = html_of(client, "/scheduler/").split('data-job-id="sleepy"', 1)[1].split("</article>", 1)[0]
    assert "已暂停" in card
    assert re.search(r'class="[^"]*d-none[^"]*" data-action="pause"', card)
    assert not re.search(r'class="[^"]*d-none[^"]*" data-action="resume"', card)


def test_the_jobs_page_filters_by_search_category_and_state(client, login, runtime):
    make_job(runtime, "alpha", "Alpha", category="sync")
    make_job(runtime, "beta", "Beta", category="ops")
    job_service.pause(runtime, "beta", Actor("admin", "admin"))
    login(client, "viewer")
    assert 'data-job-id="beta"' not in html_of(client, "/scheduler/?q=alp")
    only_ops = html_of(client, "/scheduler/?category=ops")
    assert 'data-job-id="beta"' in only_ops and 'data-job-id="alpha"' not in only_ops
    assert '<option value="ops" selected>' in only_ops
    paused = html_of(client, "/scheduler/?state=paused")
    assert 'data-job-id="beta"' in paused and 'data-job-id="alpha"' not in paused
    assert ZH["jobs_none"] in html_of(client, "/scheduler/?q=nothing-like-this")


def test_every_user_text_on_the_jobs_page_is_escaped(client, login, runtime):
    make_job(runtime, category=XSS)
    login(client, "admin")
    html = html_of(client, "/scheduler/")
    assert XSS not in html
    assert ESCAPED in html


# --- runs -------------------------------------------------------------------------------------


def test_the_runs_page_lists_newest_first_and_filters_by_job_and_status(client, login, runtime):
    make_job(runtime, "a", "A")
    make_job(runtime, "b", "B")
    first = make_run(runtime, "a", RunStatus.SUCCESS)
    second = make_run(runtime, "b", RunStatus.FAILED, error_message="boom")
    login(client, "viewer")
    html = html_of(client, "/scheduler/runs")
    assert html.index(f'data-run-id="{second}"') < html.index(f'data-run-id="{first}"')
    assert "boom" in html and "失败" in html
    only_a = html_of(client, "/scheduler/runs?job_id=a")
    assert f'data-run-id="{first}"' in only_a and f'data-run-id="{second}"' not in only_a
    failed = html_of(client, "/scheduler/runs?status=failed")
    assert f'data-run-id="{second}"' in failed and f'data-run-id="{first}"' not in failed


def test_the_runs_page_filters_by_time_in_the_configured_zone_and_tells_its_script(client, login, runtime):
    make_job(runtime, "a", "A")
    make_run(runtime, "a")
    login(client, "viewer")
    html = html_of(client, "/scheduler/runs?since=2000-01-01T08:00&status=success")
    assert 'value="2000-01-01T08:00"' in html and re.search(r'data-run-id="\d+"', html)
    # The refresh script asks the API with the same filters, the time with its offset.
    query = re.search(r'data-api-query="([^"]*)"', html).group(1)
    assert "since=2000-01-01T08%3A00%3A00%2B08%3A00" in query and "status=success" in query
    assert not re.search(r'data-run-id="\d+"', html_of(client, "/scheduler/runs?until=2000-01-01T08:00"))


def test_the_runs_page_pages(client, login, runtime):
    make_job(runtime, "a", "A")
    for _ in range(51):
        make_run(runtime, "a")
    login(client, "viewer")
    first = html_of(client, "/scheduler/runs")
    assert len(re.findall(r'<tr data-run-id="\d+"', first)) == 50
    assert "第 1 / 2 页，共 51 条" in first and 'href="/scheduler/runs?page=2"' in first
    second = html_of(client, "/scheduler/runs?page=2")
    assert len(re.findall(r'<tr data-run-id="\d+"', second)) == 1


def test_a_run_page_shows_results_and_log_escaped_and_offers_cancel_while_running(client, login, runtime):
    make_job(runtime)
    run_id = make_run(runtime, "xss", RunStatus.RUNNING, log=f"line one\n{XSS}\n", return_value=XSS)
    login(client, "operator")
    html = html_of(client, f"/scheduler/runs/{run_id}")
    assert XSS not in html and html.count(ESCAPED) >= 3  # job name, log, return value
    assert "line one" in html and 'id="cancel-run"' in html and 'data-status="running"' in html
    assert re.search(r'data-next-offset="\d+"', html)
    login(client, "viewer")
    assert 'id="cancel-run"' not in html_of(client, f"/scheduler/runs/{run_id}")


def test_a_finished_run_page_shows_error_and_traceback(client, login, runtime):
    make_job(runtime, "a", "A")
    run_id = make_run(
        runtime,
        "a",
        RunStatus.FAILED,
        error_message="ZeroDivisionError: division by zero",
        traceback="Traceback (most recent call last):\n  File ...",
    )
    login(client, "viewer")
    html = html_of(client, f"/scheduler/runs/{run_id}")
    assert "ZeroDivisionError" in html and "Traceback (most recent call last)" in html


def test_an_unknown_run_page_is_a_404_page_not_json(client, login):
    login(client, "viewer")
    response = client.get("/scheduler/runs/999999")
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_a_run_page_offers_rerun_when_finished_and_links_its_job(client, login, runtime):
    make_job(runtime, "a", "A")
    run_id = make_run(runtime, "a", RunStatus.SUCCESS, log="INFO hello\n")
    login(client, "operator")
    html = html_of(client, f"/scheduler/runs/{run_id}")
    rerun = re.search(r'<button[^>]*id="rerun"[^>]*>', html).group(0)
    assert "d-none" not in rerun and 'href="/scheduler/jobs/a"' in html
    assert 'id="log-search"' in html and 'id="log-download"' in html and 'data-job-id="a"' in html
    login(client, "viewer")
    assert 'id="rerun"' not in html_of(client, f"/scheduler/runs/{run_id}")


# --- one job's page ---------------------------------------------------------------------------


CODE = "def execute_task(params):\n    return params['n'] < 2  # <b>not markup</b>\n"


def make_code_job(runtime, job_id="script", **fields):
    data = {
        "id": job_id,
        "name": XSS,
        "trigger_type": "interval",
        "interval_minutes": 5,
        "code": CODE,
        "params": {"n": XSS},
        **fields,
    }
    return job_service.create(runtime, JobCreate(**data), Actor("admin", "admin"))


def test_a_viewer_reads_a_jobs_code_and_params_escaped_with_no_action(client, login, runtime):
    make_job(runtime, "up", "Up")
    make_code_job(runtime, depends_on=["up"])
    make_job(runtime, "down", "Down", trigger_type="dependency", depends_on=["script"], cron_expression=None)
    make_run(runtime, "script", RunStatus.SUCCESS, duration_seconds=1.5)
    make_run(runtime, "script", RunStatus.FAILED, duration_seconds=0.5)
    login(client, "viewer")
    html = html_of(client, "/scheduler/jobs/script")
    assert XSS not in html and ESCAPED in html and "&lt;b&gt;not markup&lt;/b&gt;" in html
    assert re.search(r'<textarea[^>]*id="job-code"[^>]*readonly', html)
    assert "job.js" in html and "codemirror.js" in html and "echarts.min.js" in html
    for marker in ('data-action="', 'id="job-dialog"', "job-editor.js", 'id="job-actions"'):
        assert marker not in html, marker
    assert 'href="/scheduler/jobs/up"' in html and 'href="/scheduler/jobs/down"' in html
    assert "50%（1 / 2 次已结束的运行）" in html
    chart = json.loads(
        re.search(r'<script type="application/json" id="job-chart">(.*?)</script>', html, re.S)[1]
    )
    assert [(point["status"], point["seconds"]) for point in chart] == [("success", 1.5), ("failed", 0.5)]


def test_an_operator_gets_no_actions_on_a_code_job_but_every_one_on_a_builtin_job(client, login, runtime):
    make_code_job(runtime)
    make_job(runtime, "plain", "Plain")
    login(client, "operator")
    html = html_of(client, "/scheduler/jobs/script")
    assert 'data-action="' not in html and 'data-f="admin_only"' in html
    html = html_of(client, "/scheduler/jobs/plain")
    assert 'data-action="edit"' in html and 'data-action="copy"' in html and 'id="job-dialog"' in html
    assert 'data-copy="复制任务"' in html


def test_a_job_page_speaks_english_when_asked(client, login, runtime):
    make_job(runtime, "a", "A")
    login(client, "admin")
    html = html_of(client, "/scheduler/jobs/a?lang=en")
    assert "Upstream jobs" in html and "Downstream jobs" in html and "No finished run yet" in html
    assert 'data-copy="Copy job"' in html and '"copy_name": "{name} (copy)"' in html


def test_a_job_card_links_its_page_and_offers_copy(client, login, runtime):
    make_job(runtime, "a.b-c", "A")
    login(client, "operator")
    html = html_of(client, "/scheduler/")
    assert 'href="/scheduler/jobs/a.b-c"' in html and 'data-action="copy"' in html


def test_an_unknown_job_page_is_a_404_page_not_json(client, login):
    login(client, "viewer")
    response = client.get("/scheduler/jobs/nope")
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_the_api_reference_page_renders_the_document_with_the_vendored_swagger_ui(client, login):
    login(client, "viewer")
    html = html_of(client, "/scheduler/")
    assert 'href="/scheduler/api-docs"' in html
    html = html_of(client, "/scheduler/api-docs")
    assert 'data-url="/scheduler/api/openapi.json"' in html and "swagger-ui-bundle.js" in html
    assert 'aria-current="page" href="/scheduler/api-docs"' in html


# --- admin pages ------------------------------------------------------------------------------


def test_the_users_page_lists_users_without_self_demotion_controls(client, login):
    login(client, "admin")
    html = html_of(client, "/scheduler/admin/users")
    for name in ("admin", "operator", "viewer"):
        assert f'data-username="{name}"' in html
    admin_row = html.split('data-username="admin"', 1)[1].split("</tr>", 1)[0]
    assert 'data-action="disable"' not in admin_row and "disabled" in admin_row
    viewer_row = html.split('data-username="viewer"', 1)[1].split("</tr>", 1)[0]
    assert 'data-action="disable"' in viewer_row and 'data-action="role"' in viewer_row


def test_the_tokens_page_lists_tokens_by_prefix_with_labels_escaped(client, login, runtime):
    token, plaintext = token_service.create(runtime.db, "operator", XSS, Actor("admin", "admin"))
    login(client, "admin")
    html = html_of(client, "/scheduler/admin/tokens")
    assert token.prefix in html and plaintext not in html
    assert XSS not in html and ESCAPED in html


def test_the_audit_page_filters_and_escapes(client, login, runtime):
    make_job(runtime)
    login(client, "admin")
    html = html_of(client, "/scheduler/admin/audit?action=job.create")
    assert "job.create" in html and "auth.login" not in html.split("<tbody>", 1)[1]
    assert XSS not in html and "&lt;img" in html
    assert "auth.login" in html_of(client, "/scheduler/admin/audit?actor=admin")


# --- language -----------------------------------------------------------------------------------


def test_the_console_speaks_chinese_by_default_and_english_when_asked_and_remembers(client, login):
    login(client, "viewer")
    chinese = html_of(client, "/scheduler/")
    assert 'lang="zh-CN"' in chinese and f">{ZH['nav_runs']}</a>" in chinese
    english = client.get("/scheduler/runs?lang=en")
    assert "lang=en" in english.headers.get("Set-Cookie", "")
    assert EN["runs_title"] in english.get_data(as_text=True)
    again = html_of(client, "/scheduler/")
    assert 'lang="en"' in again and f">{EN['sign_out']}</button>" in again


def test_both_languages_have_every_word_and_no_word_hides_a_dict_method():
    assert not [key for key in ZH if hasattr(dict, key)]  # t.copy would be dict.copy in Jinja


def test_the_page_scripts_get_the_words_as_escaped_json(client, login):
    login(client, "admin")
    html = html_of(client, "/scheduler/")
    text = re.search(r'<script type="application/json" id="wf-text">(.*?)</script>', html, re.S).group(1)
    assert json.loads(text)["run_now"] == ZH["run_now"]
    config = re.search(r'<script type="application/json" id="wf-config">(.*?)</script>', html, re.S).group(1)
    assert json.loads(config) == {"lang": "zh", "timezone": "Asia/Shanghai", "role": "admin", "user": "admin"}


# --- safety and assets ------------------------------------------------------------------------------


def pages_as_admin(client, login, runtime) -> dict[str, str]:
    make_job(runtime)
    run_id = make_run(runtime, "xss", log=XSS)
    login(client, "admin")
    paths = [*PAGES, f"/scheduler/runs/{run_id}", "/scheduler/jobs/xss"]
    return {path: html_of(client, path) for path in paths}


def test_console_and_sign_in_pages_forbid_inline_scripts_by_policy(client, login, runtime):
    responses = [client.get("/auth/login")]
    login(client, "admin")
    responses += [client.get(path) for path in PAGES]
    for response in responses:
        policy = response.headers["Content-Security-Policy"]
        script = next(part for part in policy.split(";") if part.strip().startswith("script-src"))
        assert "'self'" in script and "unsafe-inline" not in script and "unsafe-eval" not in script
        assert "frame-ancestors 'none'" in policy and response.headers["X-Content-Type-Options"] == "nosniff"


def test_no_page_has_inline_handlers_inline_scripts_or_outside_urls(client, login, runtime):
    for path, html in pages_as_admin(client, login, runtime).items():
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html, re.I), path
        for script in re.findall(r"<script\b[^>]*>", html):
            assert 'src="/static/' in script or 'type="application/json"' in script, (path, script)
        assert not re.search(r'(src|href)="(https?:)?//', html), path
        assert 'style="' not in html, path  # the policy allows no inline style attribute either


def test_every_asset_a_page_names_is_served_by_the_product(client, login, runtime):
    assets = set()
    for html in pages_as_admin(client, login, runtime).values():
        assets |= set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html))
    assert any("bootstrap.min.css" in a for a in assets) and any("codemirror.js" in a for a in assets)
    for asset in sorted(assets):
        response = client.get(asset)
        assert response.status_code == 200, asset
        response.close()
    assert any("echarts.min.js" in a for a in assets) and any("swagger-ui-bundle.js" in a for a in assets)
    for license_file in (
        "vendor/bootstrap-5.3.9/LICENSE",
        "vendor/codemirror-5.65.21/LICENSE",
        "vendor/echarts-5.6.0/LICENSE",
        "vendor/echarts-5.6.0/NOTICE",
        "vendor/swagger-ui-dist-5.35.0/LICENSE",
    ):
        response = client.get("/static/" + license_file)
        assert response.status_code == 200
        response.close()


def test_signing_out_from_the_console_ends_the_session(client, login, csrf_token):
    login(client, "viewer")
    token = re.search(r'name="csrf_token" value="([^"]+)"', html_of(client, "/scheduler/")).group(1)
    assert client.post("/auth/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/scheduler/").status_code == 302


# --- error pages -----------------------------------------------------------------


def test_an_unknown_page_is_our_404_page_in_the_users_language(client, login):
    login(client, "viewer")
    zh = client.get("/scheduler/no-such-page")
    assert zh.status_code == 404 and zh.mimetype == "text/html"
    assert "没有这个页面" in zh.text and "Not Found" not in zh.text
    en = client.get("/scheduler/no-such-page?lang=en")
    assert en.status_code == 404 and "there is no such page" in en.text and "没有" not in en.text


def test_an_unknown_run_or_instance_page_says_which_in_html(client, login):
    login(client, "viewer")
    run = client.get("/scheduler/runs/999999")
    assert run.status_code == 404 and run.mimetype == "text/html" and "运行 #999999 不存在" in run.text
    instance = client.get("/scheduler/instances/424242?lang=en")
    assert instance.status_code == 404 and "instance 424242 does not exist" in instance.text


def test_a_bad_console_filter_is_a_400_page_naming_the_field(client, login):
    login(client, "viewer")
    page = client.get("/scheduler/runs?status=bogus")
    assert page.status_code == 400 and page.mimetype == "text/html" and "「状态」" in page.text
    assert client.get("/scheduler/runs?status=&job_id=").status_code == 200  # an empty filter is no filter
    assert client.get("/scheduler/admin/audit?page=0").status_code in (400, 403)


def test_the_api_still_answers_json_for_the_same_errors(client, bearer):
    viewer = bearer("viewer")
    missing = client.get("/scheduler/api/runs/999999", headers=viewer)
    assert missing.status_code == 404 and missing.is_json and missing.json["success"] is False
    assert client.get("/scheduler/api/nothing-here", headers=viewer).is_json
    bad = client.get("/scheduler/api/runs?status=bogus", headers=viewer)
    assert bad.status_code == 400 and "status" in bad.json["errors"]


def test_a_partial_fleet_run_shows_partly_failed_not_a_green_success(client, login, runtime):
    make_job(runtime, "sizes", "Sizes")
    run_id = make_run(runtime, "sizes", partial=True)
    login(client, "viewer")
    for path in ("/scheduler/runs", f"/scheduler/runs/{run_id}", "/scheduler/", "/scheduler/jobs/sizes"):
        html = html_of(client, path)
        assert re.search(r'wf-status-partial"[^>]*>部分成功<', html), path
    english = html_of(client, f"/scheduler/runs/{run_id}?lang=en")
    assert re.search(r'wf-status-partial"[^>]*>partly failed<', english)
