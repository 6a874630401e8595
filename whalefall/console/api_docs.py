"""The API reference: ``/scheduler/api/openapi.json`` rendered by swagger-ui, served offline.

swagger-ui-dist is vendored under ``static/vendor/``; ``static/js/api-docs.js``
starts it on the document with its online validator turned off, so the page
asks nothing of any host but this one.
"""

from __future__ import annotations

from flask import url_for

from whalefall.auth.guard import page_login_required
from whalefall.console import bp, render


@bp.get("/api-docs")
@page_login_required()
def api_docs_page():
    return render("console/api_docs.html", spec_url=url_for("api.openapi_json"))
