"""The web console under ``/scheduler/``: server-rendered pages first.

For now one overview page, rendered on the server from the same services the
API uses; the full console (cards, dialogs, live logs) builds on it.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, render_template, request

from whalefall.auth import i18n
from whalefall.auth.guard import current_user, page_login_required
from whalefall.services import jobs as job_service
from whalefall.services import runs as run_service

bp = Blueprint("console", __name__, url_prefix="/scheduler")

TEXT = {
    "zh": {"jobs": "任务", "runs": "最近运行", "id": "ID", "name": "名称", "state": "状态", "trigger": "触发",
           "next": "下次运行", "last": "上次运行", "active": "运行中", "paused": "已暂停", "code": "代码",
           "sign_out": "退出", "api": "API 文档 (OpenAPI)", "none": "暂无", "job": "任务", "status": "结果",
           "started": "开始时间", "duration": "耗时 (秒)"},
    "en": {"jobs": "Jobs", "runs": "Recent runs", "id": "ID", "name": "Name", "state": "State", "trigger": "Trigger",
           "next": "Next run", "last": "Last run", "active": "Active", "paused": "Paused", "code": "code",
           "sign_out": "Sign out", "api": "API reference (OpenAPI)", "none": "none", "job": "Job",
           "status": "Status", "started": "Started", "duration": "Duration (s)"},
}


@bp.get("/")
@page_login_required()
def index():
    runtime = current_app.extensions["whalefall"]
    lang = i18n.current_language()
    lang = "en" if lang == "en" else "zh"
    with runtime.db.read() as session:
        jobs, total = job_service.page(session, q=request.args.get("q") or None, per_page=200)
        last = job_service.last_runs(session, [j.id for j in jobs])
        runs, _ = run_service.page(session, per_page=20)
    rows = [job_service.to_dict(runtime, j, last_run=last.get(j.id), lang=lang) for j in jobs]
    recent = [run_service.to_dict(r, runtime.settings.timezone) for r in runs]
    response = current_app.make_response(render_template(
        "console/index.html", jobs=rows, total=total, runs=recent, t=TEXT[lang], user=current_user()))
    return i18n.remember_language(response)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
