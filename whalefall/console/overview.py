"""The overview page, where sign-in lands: health, recent runs, what runs next, windows, alerts.

Rendered on the server from ``services.overview``; ``static/js/overview.js`` draws the
7-day success-rate chart and refreshes every card from ``GET /scheduler/api/overview``
every 30 s (not while the tab is hidden).
"""

from __future__ import annotations

from whalefall.auth.guard import page_login_required
from whalefall.console import bp, language, render, runtime
from whalefall.services import overview as overview_service


@bp.get("/overview")
@page_login_required()
def overview_page():
    data = overview_service.overview(runtime(), lang=language())
    return render("console/overview.html", ov=data)
