"""Admin pages: users, API tokens and the audit log (admins only).

The lists are rendered here from ``services.users``, ``services.tokens`` and
``services.audit``; ``static/js/admin.js`` sends every change to the admin
API (``whalefall/api/admin.py``) and reloads the list.
"""

from __future__ import annotations

import json

from whalefall.auth.guard import page_login_required
from whalefall.console import bp, render, runtime
from whalefall.models import Role
from whalefall.services import audit
from whalefall.services import tokens as token_service
from whalefall.services import users as user_service
from whalefall.web.queries import AuditQuery, query

AUDIT_PER_PAGE = 50
ROLES = [r.value for r in Role]


@bp.get("/admin/users")
@page_login_required(Role.ADMIN)
def users_page():
    users = [user_service.public_dict(u) for u in user_service.list_users(runtime().db)]
    return render("console/users.html", users=users, roles=ROLES)


@bp.get("/admin/tokens")
@page_login_required(Role.ADMIN)
def tokens_page():
    db = runtime().db
    tokens = [t.to_dict() for t in token_service.list_tokens(db)]
    usernames = [u.username for u in user_service.list_users(db) if u.is_active]
    return render("console/tokens.html", tokens=tokens, usernames=usernames)


@bp.get("/admin/audit")
@page_login_required(Role.ADMIN)
def audit_page():
    f = query(AuditQuery, per_page=AUDIT_PER_PAGE)
    page = f.page
    filters = {"actor": f.actor or "", "action": f.action or "", "target_id": f.target_id or ""}
    with runtime().db.read() as session:
        rows, total = audit.page(
            session, page=page, per_page=AUDIT_PER_PAGE, actor=f.actor, action=f.action, target_id=f.target_id
        )
    entries = [
        {
            **audit.to_dict(e),
            "address": e.address or "",
            "detail": json.dumps(e.detail, ensure_ascii=False, sort_keys=True) if e.detail else "",
        }
        for e in rows
    ]
    return render(
        "console/audit.html",
        entries=entries,
        total=total,
        page=page,
        pages=max(1, -(-total // AUDIT_PER_PAGE)),
        filters=filters,
    )
