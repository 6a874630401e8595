"""API tokens: how scripts sign in (``Authorization: Bearer <token>``).

A token is ``wf_`` followed by 256 random bits; only its sha256 is stored (the
randomness makes a slow hash pointless) with a short prefix to recognise it
by. The plaintext is returned once, at creation.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from whalefall import clock
from whalefall.db import Database
from whalefall.errors import InvalidInput, TokenNotFound
from whalefall.models import ApiToken, User
from whalefall.services import audit
from whalefall.services.audit import Actor
from whalefall.services.users import find as find_user

TOKEN_PREFIX = "wf_"
DISPLAY_PREFIX_CHARS = 10  # "wf_" and seven characters of the random part
LABEL_MAX_CHARS = 100
TOUCH_INTERVAL = timedelta(minutes=1)  # last_used_at is written at most this often


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never its hash, never its plaintext."""

    id: int
    username: str
    label: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "label": self.label,
            "prefix": self.prefix,
            "created_at": clock.iso(self.created_at),
            "last_used_at": clock.iso(self.last_used_at),
            "revoked_at": clock.iso(self.revoked_at),
            "active": self.active,
        }


def digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create(db: Database, username: str, label: str, actor: Actor) -> tuple[ApiToken, str]:
    """A new token for ``username``, and its plaintext (shown once). Raises
    :class:`UserNotFound` or :class:`InvalidInput` (field ``label``)."""
    label = (label or "").strip()
    if len(label) > LABEL_MAX_CHARS:
        raise InvalidInput(
            f"label must be at most {LABEL_MAX_CHARS} characters",
            field="label",
            key="label_too_long",
            params={"max": LABEL_MAX_CHARS},
        )
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.begin() as session:
        user = find_user(session, username)
        token = ApiToken(
            user_id=user.id,
            label=label,
            token_hash=digest(plaintext),
            prefix=plaintext[:DISPLAY_PREFIX_CHARS],
            created_at=clock.now(),
        )
        session.add(token)
        session.flush()
        audit.record(
            session,
            actor,
            "token.create",
            "token",
            str(token.id),
            {"user": user.username, "label": label, "prefix": token.prefix},
        )
    return token, plaintext


def revoke(db: Database, token_id: int, actor: Actor) -> ApiToken:
    """Revoke a token (a token already revoked stays as it was). Raises :class:`TokenNotFound`."""
    with db.begin() as session:
        token = session.get(ApiToken, token_id)
        if token is None:
            raise TokenNotFound(token_id)
        if token.revoked_at is None:
            token.revoked_at = clock.now()
            audit.record(session, actor, "token.revoke", "token", str(token.id), {"prefix": token.prefix})
        return token


def revoke_all_of(session: Session, user: User, actor: Actor) -> int:
    """Revoke every active token of ``user`` within ``session`` (each audited);
    how many were revoked. Used by a password reset that asks for it."""
    now = clock.now()
    active = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    for token in active:
        token.revoked_at = now
        audit.record(
            session,
            actor,
            "token.revoke",
            "token",
            str(token.id),
            {"prefix": token.prefix, "user": user.username, "reason": "password_reset"},
        )
    return len(active)


def list_tokens(
    db: Database, username: str | None = None, *, include_revoked: bool = True
) -> list[TokenInfo]:
    """Tokens, newest first; only ``username``'s when given (raises :class:`UserNotFound`)."""
    with db.read() as session:
        query = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id)
        if username is not None:
            query = query.where(ApiToken.user_id == find_user(session, username).id)
        if not include_revoked:
            query = query.where(ApiToken.revoked_at.is_(None))
        rows = session.execute(query.order_by(ApiToken.id.desc())).all()
    return [
        TokenInfo(t.id, name, t.label, t.prefix, t.created_at, t.last_used_at, t.revoked_at)
        for t, name in rows
    ]


def authenticate(db: Database, plaintext: str) -> User | None:
    """The active user owning this unrevoked token, or None."""
    if not plaintext or not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 200:
        return None
    now = clock.now()
    with db.read() as session:
        row = session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == digest(plaintext))
        ).first()
    if row is None:
        return None
    token, user = row
    if token.revoked_at is not None or not user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_INTERVAL:
        # Conditional, so many concurrent requests write it once.
        with db.begin() as session:
            session.execute(
                update(ApiToken)
                .where(
                    ApiToken.id == token.id,
                    or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - TOUCH_INTERVAL),
                )
                .values(last_used_at=now)
            )
    return user
