"""Dashboard users: scrypt password hashes, roles per organisation, sessions and CSRF tokens."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from starlette.requests import Request

from ledgersync import Actor, Role
from ledgersync.passwords import DUMMY_HASH, hash_password, verify_password
from ledgersync.store import Store, new_id
from ledgersync.store.tables import Organisation, WebMembership, WebUser, utcnow

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Membership:
    org_id: str
    org_name: str
    role: Role


@dataclass(frozen=True)
class User:
    id: str
    email: str
    name: str
    memberships: tuple[Membership, ...]

    def membership(self, org_id: str | None) -> Membership | None:
        for m in self.memberships:
            if m.org_id == org_id:
                return m
        return self.memberships[0] if self.memberships and org_id is None else None

    def actor(self, org_id: str) -> Actor:
        m = self.membership(org_id)
        return Actor(self.email, m.role if m else Role.MEMBER)


def create_user(
    store: Store,
    email: str,
    password: str,
    org_id: str,
    role: Role | str = Role.MEMBER,
    *,
    name: str | None = None,
) -> str:
    """Create a dashboard user (or add an existing one to another organisation); returns the user's id.

    An existing user's password is replaced by the given one."""
    role = Role(role)
    email = email.strip().lower()
    if not email or "@" not in email:
        raise ValueError("an email address is needed to sign in")
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    with store.session() as s:
        if s.get(Organisation, org_id) is None:
            raise ValueError(f"no organisation {org_id!r}")
        user = s.scalar(select(WebUser).where(WebUser.email == email))
        if user is None:
            user = WebUser(id=new_id("usr"), email=email, name=name or email.split("@")[0], active=True)
            s.add(user)
        elif name:
            user.name = name
        user.password_hash = hash_password(password)
        s.flush()
        member = s.get(WebMembership, (user.id, org_id))
        if member is None:
            s.add(WebMembership(user_id=user.id, org_id=org_id, role=role.value, created_at=utcnow()))
        else:
            member.role = role.value
        return user.id


def set_role(store: Store, user_id: str, org_id: str, role: Role | str) -> None:
    with store.session() as s:
        member = s.get(WebMembership, (user_id, org_id))
        if member is None:
            raise ValueError("that user is not in that organisation")
        member.role = Role(role).value


def load_user(store: Store, user_id: str) -> User | None:
    """The signed-in user with their organisations (None when removed or deactivated)."""
    with store.session() as s:
        user = s.get(WebUser, user_id)
        if user is None or not user.active:
            return None
        rows = s.execute(
            select(WebMembership.org_id, Organisation.name, WebMembership.role)
            .join(Organisation, Organisation.id == WebMembership.org_id)
            .where(WebMembership.user_id == user_id)
            .order_by(Organisation.name)
        ).all()
        return User(
            id=user.id,
            email=user.email,
            name=user.name,
            memberships=tuple(Membership(o, n, Role(r)) for o, n, r in rows),
        )


def authenticate(store: Store, email: str, password: str) -> User | None:
    with store.session() as s:
        user = s.scalar(select(WebUser).where(WebUser.email == email.strip().lower()))
        if user is None or not user.active:
            verify_password(password, DUMMY_HASH)
            return None
        if not verify_password(password, user.password_hash):
            return None
        user.last_login_at = utcnow()
        user_id = user.id
    return load_user(store, user_id)


# -- sessions and CSRF ---------------------------------------------------------------------------------
def csrf_token(request: Request) -> str:
    """This session's CSRF token, created on first use (the login form gets one before sign-in)."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, submitted: str | None) -> bool:
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())


def sign_in(request: Request, user: User) -> None:
    """A fresh session for the user: old contents dropped, a new CSRF token."""
    request.session.clear()
    request.session["uid"] = user.id
    request.session["org"] = user.memberships[0].org_id if user.memberships else None
    request.session["csrf"] = secrets.token_urlsafe(32)


def sign_out(request: Request) -> None:
    request.session.clear()


__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "Membership",
    "User",
    "authenticate",
    "create_user",
    "csrf_ok",
    "csrf_token",
    "hash_password",
    "load_user",
    "set_role",
    "sign_in",
    "sign_out",
    "verify_password",
]
