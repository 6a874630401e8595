"""Admin pages: users, API tokens and the audit log (admins only).

The lists are rendered here from ``services.users``, ``services.tokens`` and
``services.audit``; ``static/js/admin.js`` sends every change to the admin
API (``whalefall/api/admin.py``) and reloads the list.
"""

from __future__ import annotations

import json

from flask import request

from whalefall.auth.guard import page_login_required
from whalefall.console import bp, render, runtime
from whalefall.models import Role
from whalefall.services import audit
from whalefall.services import tokens as token_service
from whalefall.services import users as user_service

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
    filters = {
        name: (request.args.get(name) or "").strip()[:128] for name in ("actor", "action", "target_id")
    }
    page = request.args.get("page", "1")
    page = int(page) if page.isdigit() and 0 < int(page) < 1_000_000 else 1
    with runtime().db.read() as session:
        rows, total = audit.page(
            session,
            page=page,
            per_page=AUDIT_PER_PAGE,
            actor=filters["actor"] or None,
            action=filters["action"] or None,
            target_id=filters["target_id"] or None,
        )
        entries = [
            {
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "target_type": e.target_type,
                "target_id": e.target_id,
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
