"""Admin endpoints: users and API tokens (the audit log is in ``system``).

Every change goes through ``services.users`` and ``services.tokens``, which
validate, write the audit row and raise the named errors the API maps to HTTP.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from whalefall import clock
from whalefall.api import bp, json_body, openapi, parse
from whalefall.api.context import runtime
from whalefall.auth.guard import current_actor, current_user, require
from whalefall.domain.base import Strict
from whalefall.errors import Conflict, InvalidInput
from whalefall.i18n.messages import say
from whalefall.models import Role
from whalefall.services import tokens as token_service
from whalefall.services import users as user_service
from whalefall.web.envelope import listing, ok
from whalefall.web.queries import Query, query

RoleName = Literal["viewer", "operator", "admin"]


class UserCreate(Strict):
    username: str = Field(max_length=64, description="1-64 of letters, digits, '_', '.' or '-'")
    password: str = Field(description="at least 10 characters, not a common password")
    role: RoleName


class UserPatch(Strict):
    role: RoleName | None = None
    password: str | None = Field(
        None, description="a new password (at least 10 characters, not a common one); the user's sessions end"
    )
    revoke_tokens: bool = Field(
        False, description="with a new password: also revoke every API token of the user"
    )
    is_active: bool | None = Field(None, description="false disables the user, their sessions and tokens")


class TokenCreate(Strict):
    username: str = Field(max_length=64, description="whose token it is")
    label: str = Field("", max_length=token_service.LABEL_MAX_CHARS)


class TokenListQuery(Query):
    username: str | None = Field(None, max_length=64)
    active: bool | None = Field(None, description="true lists only tokens not revoked")


# --- users ---------------------------------------------------------------------


@bp.get("/users")
@require(Role.ADMIN)
def list_users():
    users = user_service.list_users(runtime().db)
    return listing("users", [user_service.public_dict(u) for u in users], len(users))


@bp.post("/users")
@require(Role.ADMIN)
def create_user():
    data = parse(UserCreate, json_body())
    user = user_service.create(runtime().db, data.username, data.password, data.role, current_actor())
    return ok(user_service.public_dict(user), say("user_created", name=user.username))


@bp.put("/users/<username>")
@require(Role.ADMIN)
def update_user(username: str):
    """Change a user's role, password or active flag.

    Everything given is checked before anything is written, so a bad password
    does not leave the role changed. Admins may not demote or disable
    themselves here (that would lock them out mid-click; the CLI still can).
    """
    data = parse(UserPatch, json_body())
    db, actor = runtime().db, current_actor()
    user = user_service.get_by_name(db, username)
    me = current_user()
    if me is not None and me.id == user.id:
        if data.role is not None and data.role != user.role:
            raise Conflict("you cannot change your own role", field="role", key="own_role")
        if data.is_active is False:
            raise Conflict("you cannot disable your own account", field="is_active", key="own_account")
    if data.password is not None:
        user_service.validate_password(data.password)
    elif data.revoke_tokens:
        raise InvalidInput(
            "revoke_tokens goes with a new password", field="revoke_tokens", key="revoke_tokens_alone"
        )
    if data.role is not None:
        user = user_service.set_role(db, username, data.role, actor)
    if data.is_active is not None:
        user = user_service.set_active(db, username, data.is_active, actor)
    if data.password is not None:
        user = user_service.set_password(
            db,
            username,
            data.password,
            actor,
            revoke_tokens=data.revoke_tokens,
            data_dir=runtime().settings.data_dir,
        )
    return ok(user_service.public_dict(user), say("user_updated", name=username))


# --- tokens --------------------------------------------------------------------


@bp.get("/tokens")
@require(Role.ADMIN)
def list_tokens():
    q = query(TokenListQuery)
    tokens = token_service.list_tokens(runtime().db, q.username, include_revoked=not q.active)
    return listing("tokens", [t.to_dict() for t in tokens], len(tokens))


@bp.post("/tokens")
@require(Role.ADMIN)
def create_token():
    data = parse(TokenCreate, json_body())
    token, plaintext = token_service.create(runtime().db, data.username, data.label, current_actor())
    return ok(
        {
            "id": token.id,
            "username": data.username,
            "label": token.label,
            "prefix": token.prefix,
            "created_at": clock.iso(token.created_at),
            "token": plaintext,
        },
        say("token_created", prefix=token.prefix, user=data.username),
    )


@bp.post("/tokens/<id:token_id>/revoke")
@require(Role.ADMIN)
def revoke_token(token_id: int):
    token = token_service.revoke(runtime().db, token_id, current_actor())
    return ok(
        {"id": token.id, "prefix": token.prefix, "revoked_at": clock.iso(token.revoked_at)},
        say("token_revoked", prefix=token.prefix),
    )


# The OpenAPI document lists these too.
openapi.ROUTES.extend(
    [
        ("get", "/users", "admin", "List users", None, None),
        ("post", "/users", "admin", "Create a user", UserCreate, None),
        (
            "put",
            "/users/{username}",
            "admin",
            "Change a user's role, password or active flag",
            UserPatch,
            None,
        ),
        ("get", "/tokens", "admin", "List API tokens (never their value)", None, TokenListQuery),
        (
            "post",
            "/tokens",
            "admin",
            "Create an API token; its value is in the answer, once",
            TokenCreate,
            None,
        ),
        ("post", "/tokens/{token_id}/revoke", "admin", "Revoke an API token", None, None),
    ]
)
