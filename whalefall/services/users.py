"""People who sign in: accounts, passwords, roles, and the sign-in itself.

Passwords are hashed with argon2 (argon2-cffi's ``PasswordHasher``). Sign-ins
are throttled: five failures within a minute for one username or from one
address make every further attempt answer :class:`TooManyAttempts`, even with
the right password, until the window has passed. Every change and every
sign-in writes an audit row in the same transaction.

Passwords follow one policy wherever they are set (API, console, CLI): at
least ten characters and not one of the common passwords shipped in
``services/data/common_passwords.txt`` (compared case-insensitively).

Sessions end by generation: every session cookie carries the user's
``session_generation`` of when it was signed in, and signing out, a new
password, a new role, disabling (or enabling) the user count it up, which
ends every session signed in before, in every browser. Signing out therefore
signs the user out everywhere: a copied cookie dies with the one signed out.

A failed sign-in for a name that is no user is audited without the typed
name: the row says "unknown user" and the address, nothing the person typed.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from whalefall import clock, defaults
from whalefall.db import Database
from whalefall.errors import (
    Conflict,
    InvalidCredentials,
    InvalidInput,
    TooManyAttempts,
    UserNotFound,
)
from whalefall.models import LoginAttempt, Role, User
from whalefall.services import audit
from whalefall.services.audit import Actor

if TYPE_CHECKING:
    from whalefall.runtime import Runtime

USERNAME_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
PASSWORD_MIN_CHARS = 10
PASSWORD_MAX_CHARS = 1024
ATTEMPT_RETENTION = timedelta(days=1)
INITIAL_ADMIN_NAME = "admin"
INITIAL_ADMIN_FILE = "initial_admin_password"
UNKNOWN_USER = "(unknown user)"  # who a failed sign-in names when the name is no user's

# The one hasher. Tests may replace it with cheaper parameters; hashes carry
# their own parameters, so a hash made by any hasher still verifies.
hasher = PasswordHasher()
_dummy: tuple[PasswordHasher, str] | None = None


# --- validation -------------------------------------------------------------


def validate_username(username: object) -> str:
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise InvalidInput(
            "username must be 1–64 of letters, digits, '_', '.' or '-'",
            field="username",
            key="username_invalid",
        )
    return username


@functools.cache
def common_passwords() -> frozenset[str]:
    """The blocklist, lower-cased: one password a line, ``#`` comments."""
    text = resources.files("whalefall.services").joinpath("data", "common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().casefold() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def validate_password(password: object) -> str:
    """The password, when the policy allows it. Raises :class:`InvalidInput`
    (field ``password``): too short, too long, or a common password."""
    if not isinstance(password, str) or len(password) < PASSWORD_MIN_CHARS:
        raise InvalidInput(
            f"password must be at least {PASSWORD_MIN_CHARS} characters",
            field="password",
            key="password_too_short",
            params={"min": PASSWORD_MIN_CHARS},
        )
    if len(password) > PASSWORD_MAX_CHARS:
        raise InvalidInput(
            f"password must be at most {PASSWORD_MAX_CHARS} characters",
            field="password",
            key="password_too_long",
            params={"max": PASSWORD_MAX_CHARS},
        )
    if password.casefold() in common_passwords() or password.strip().casefold() in common_passwords():
        raise InvalidInput(
            "password is one of the most common passwords: choose another",
            field="password",
            key="password_common",
        )
    return password


def validate_role(role: object) -> Role:
    if isinstance(role, str) and role in {r.value for r in Role}:
        return Role(role)
    raise InvalidInput("role must be one of viewer, operator, admin", field="role", key="role_invalid")


# --- hashing ----------------------------------------------------------------


def hash_password(password: str) -> str:
    return hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so timing tells nothing."""
    global _dummy
    if _dummy is None or _dummy[0] is not hasher:
        _dummy = (hasher, hasher.hash(secrets.token_urlsafe(16)))
    return _dummy[1]


# --- reading ----------------------------------------------------------------


def find(session: Session, username: str) -> User:
    """The user called ``username`` within ``session``; raises :class:`UserNotFound`."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserNotFound(username)
    return user


def get_by_name(db: Database, username: str) -> User:
    """The user called ``username``; raises :class:`UserNotFound`."""
    with db.read() as session:
        return find(session, username)


def get(db: Database, user_id: int) -> User | None:
    with db.read() as session:
        return session.get(User, user_id)


def list_users(db: Database) -> list[User]:
    with db.read() as session:
        return list(session.scalars(select(User).order_by(User.username)))


def public_dict(user: User) -> dict[str, Any]:
    """What the API may show of a user (never the hash)."""
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "is_active": user.is_active,
        "created_at": clock.iso(user.created_at),
        "updated_at": clock.iso(user.updated_at),
        "last_login_at": clock.iso(user.last_login_at),
    }


# --- changing ---------------------------------------------------------------


def create(db: Database, username: str, password: str, role: Role | str, actor: Actor) -> User:
    """Create an active user. Raises :class:`InvalidInput` (field ``username``,
    ``password`` or ``role``) or :class:`Conflict` when the name is taken."""
    validate_username(username)
    validate_password(password)
    role = validate_role(role)
    password_hash = hash_password(password)
    try:
        with db.begin() as session:
            return _insert(session, username, password_hash, role, actor)
    except IntegrityError:  # a concurrent create of the same name won the race
        raise Conflict(
            f"user {username!r} already exists",
            field="username",
            key="user_exists",
            params={"name": username},
        ) from None


def _insert(session: Session, username: str, password_hash: str, role: Role, actor: Actor) -> User:
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(
            f"user {username!r} already exists",
            field="username",
            key="user_exists",
            params={"name": username},
        )
    now = clock.now()
    user = User(
        username=username,
        password_hash=password_hash,
        role=role.value,
        is_active=True,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", "user", username, {"role": role.value})
    return user


def set_password(
    db: Database,
    username: str,
    password: str,
    actor: Actor,
    *,
    revoke_tokens: bool = False,
    data_dir: Path | None = None,
) -> User:
    """Change a password; the user's existing sessions end everywhere, and
    with ``revoke_tokens`` every API token of theirs is revoked too (each
    audited). When ``data_dir`` holds the first admin's generated password
    and this is that admin, the file is deleted: it no longer opens anything.

    Raises :class:`UserNotFound` or :class:`InvalidInput` (field ``password``).
    """
    # services.tokens reads users through this module: imported here, not at the top.
    from whalefall.services.tokens import revoke_all_of

    validate_password(password)
    password_hash = hash_password(password)
    with db.begin() as session:
        user = find(session, username)
        user.password_hash = password_hash
        user.updated_at = clock.now()
        _end_sessions(session, user)
        revoked = revoke_all_of(session, user, actor) if revoke_tokens else 0
        detail = {"revoked_tokens": revoked} if revoke_tokens else None
        audit.record(session, actor, "user.passwd", "user", username, detail)
        if data_dir is not None and username == INITIAL_ADMIN_NAME:
            # Removed inside the transaction: if it cannot be removed, the password stays as it was.
            (data_dir / INITIAL_ADMIN_FILE).unlink(missing_ok=True)
    return user


def _end_sessions(session: Session, user: User) -> None:
    """Count the user's session generation up, in SQL, so two changes at once both count."""
    user.session_generation = User.session_generation + 1
    session.flush()
    session.refresh(user, ["session_generation"])  # the object outlives the session: load it now


def set_role(db: Database, username: str, role: Role | str, actor: Actor) -> User:
    """Change a role. Raises :class:`UserNotFound`, :class:`InvalidInput` (field
    ``role``) or :class:`Conflict` when it would leave no active admin."""
    role = validate_role(role)
    with db.begin() as session:
        user = find(session, username)
        if user.role == role.value:
            return user
        if user.role == Role.ADMIN and user.is_active:
            _keep_an_admin(session, user)
        old = user.role
        user.role = role.value
        user.updated_at = clock.now()
        _end_sessions(session, user)
        audit.record(session, actor, "user.role", "user", username, {"from": old, "to": role.value})
        return user


def set_active(db: Database, username: str, active: bool, actor: Actor) -> User:
    """Enable or disable a user; disabling ends their sessions and tokens.
    Raises :class:`UserNotFound` or :class:`Conflict` for the last active admin."""
    with db.begin() as session:
        user = find(session, username)
        if user.is_active == active:
            return user
        if not active and user.role == Role.ADMIN:
            _keep_an_admin(session, user)
        user.is_active = active
        user.updated_at = clock.now()
        _end_sessions(session, user)
        audit.record(session, actor, "user.enable" if active else "user.disable", "user", username)
        return user


def _keep_an_admin(session: Session, leaving: User) -> None:
    others = session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN.value, User.is_active.is_(True), User.id != leaving.id)
    )
    if not others:
        raise Conflict(
            f"user {leaving.username!r} is the last active admin",
            field="username",
            key="last_admin",
            params={"name": leaving.username},
        )


# --- signing in -------------------------------------------------------------


def authenticate(db: Database, username: str, password: str, address: str | None) -> User:
    """The user whose credentials these are.

    1. Refuse with :class:`TooManyAttempts` when the username or the address
       has five failures within the window (checked before the password).
    2. Verify the password outside any transaction; an unknown user still
       costs one argon2 verification, so timing does not reveal names.
    3. Record the attempt and an audit row (``auth.login`` or
       ``auth.login_failed``); rehash when the parameters changed.

    Raises :class:`InvalidCredentials` for an unknown user, a wrong password
    or a disabled account.
    """
    username = username or ""
    name = username[:64]  # as recorded; longer names are never a user's
    address = (address or "unknown")[:64]
    now = clock.now()
    with db.read() as session:
        throttled = _throttled(session, name, address, now)
        user = None
        if len(username) <= 64:
            user = session.scalar(select(User).where(User.username == username))
    # What the audit log may say of who tried: a user's name, never text typed
    # for no user (it is often a password typed into the wrong field).
    shown = user.username if user is not None else UNKNOWN_USER
    actor = Actor(shown, "", address)
    if throttled:
        with db.begin() as session:
            audit.record(session, actor, "auth.login_failed", "user", shown, {"reason": "too_many_attempts"})
        raise TooManyAttempts()

    valid = _verify(user.password_hash if user else _dummy_hash(), password or "")
    reason = None
    if user is None:
        reason = "unknown_user"
    elif not valid:
        reason = "wrong_password"
    elif not user.is_active:
        reason = "disabled"

    with db.begin() as session:
        if reason is None:
            assert user is not None
            user = session.get(User, user.id)
            if user is None:  # deleted while the password was being checked
                reason = "unknown_user"
        session.add(LoginAttempt(username=name, address=address, at=now, success=reason is None))
        session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - ATTEMPT_RETENTION))
        if reason is not None:
            audit.record(session, actor, "auth.login_failed", "user", shown, {"reason": reason})
        else:
            assert user is not None
            user.last_login_at = now
            if hasher.check_needs_rehash(user.password_hash):
                user.password_hash = hasher.hash(password)
            audit.record(
                session, Actor(user.username, user.role, address), "auth.login", "user", user.username
            )
    if reason is not None or user is None:
        raise InvalidCredentials()
    return user


def _throttled(session: Session, username: str, address: str, now: datetime) -> bool:
    since = now - timedelta(seconds=defaults.LOGIN_WINDOW_SECONDS)
    # A success proves the password: earlier failures for that name stop counting.
    # (Not for the address: one good account must not reset a spray at others.)
    last_success = session.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.username == username, LoginAttempt.success.is_(True), LoginAttempt.at >= since
        )
    )
    by_name = session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(
            LoginAttempt.username == username,
            LoginAttempt.success.is_(False),
            LoginAttempt.at >= max(since, last_success or since),
        )
    )
    if by_name and by_name >= defaults.LOGIN_MAX_FAILURES:
        return True
    by_address = session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.address == address, LoginAttempt.success.is_(False), LoginAttempt.at >= since)
    )
    return bool(by_address and by_address >= defaults.LOGIN_MAX_FAILURES)


def log_out(db: Database, user: User, address: str | None) -> None:
    """Sign ``user`` out: every session of theirs ends, in every browser (the
    generation counts up), so a copied cookie stops working too."""
    with db.begin() as session:
        session.execute(
            update(User).where(User.id == user.id).values(session_generation=User.session_generation + 1)
        )
        audit.record(session, Actor(user.username, user.role, address), "auth.logout", "user", user.username)


# --- the first admin --------------------------------------------------------


def ensure_first_admin(runtime: Runtime) -> str | None:
    """When there is no user at all, create ``admin`` with a random password,
    write it to ``<data_dir>/initial_admin_password`` (mode 0600) and return
    it; otherwise return None. Safe to call from several processes at once."""
    db = runtime.db
    with db.read() as session:
        if session.scalar(select(func.count()).select_from(User)):
            return None
    password = secrets.token_urlsafe(18)  # 24 characters: the policy's length, never a common one
    password_hash = hash_password(password)
    path = runtime.settings.data_dir / INITIAL_ADMIN_FILE
    try:
        with db.begin() as session:
            if session.scalar(select(func.count()).select_from(User)):
                return None
            _insert(session, INITIAL_ADMIN_NAME, password_hash, Role.ADMIN, Actor.system())
            session.flush()
            # Written before the commit: if the file cannot be written, no admin
            # with an unknown password is left behind.
            _write_secret(path, password)
    except (IntegrityError, Conflict):  # another process created it first
        return None
    return password


def _write_secret(path: os.PathLike[str] | str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # the file may have existed with a wider mode
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
