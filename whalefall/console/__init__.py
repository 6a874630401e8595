"""The web console under ``/scheduler/``: server-rendered pages, a small script each."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template

from whalefall.auth.guard import page_login_required

bp = Blueprint("console", __name__, url_prefix="/scheduler")


@bp.get("/")
@page_login_required()
def index():
    return render_template("console/index.html")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
