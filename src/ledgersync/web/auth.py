"""Dashboard users: scrypt password hashes, roles per organisation, throttled sign-in, server-side sessions, CSRF."""

from __future__ import annotations

import hmac
import math
import secrets
from dataclasses import dataclass, fields

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
        replaced = user.password_hash is not None
        user.password_hash = hash_password(password)
        s.flush()
        member = s.get(WebMembership, (user.id, org_id))
        if member is None:
            s.add(WebMembership(user_id=user.id, org_id=org_id, role=role.value, created_at=utcnow()))
        else:
            member.role = role.value
        user_id = user.id
    if replaced:
        # A new password ends every sign-in made with the old one.
        store.revoke_user_sessions(user_id)
    return user_id


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


# -- sign-in throttling -------------------------------------------------------------------------------
@dataclass(frozen=True)
class WebSettings:
    """Session lifetimes and sign-in throttling (the same names as in ApiSettings, which supplies them)."""

    session_idle_seconds: float = 3600.0
    session_max_seconds: float = 12 * 3600.0
    signin_free_failures: int = 5
    signin_address_free_failures: int = 20
    signin_delay_base: float = 15.0
    signin_delay_max: float = 3600.0
    signin_window_seconds: float = 24 * 3600.0

    @classmethod
    def of(cls, settings: object | None) -> WebSettings:
        """Taken from an ApiSettings (or anything with these attributes); defaults for what it lacks."""
        values = {f.name: getattr(settings, f.name) for f in fields(cls) if hasattr(settings, f.name)}
        return cls(**values)


class SignInLocked(Exception):
    """Too many failed sign-ins for this account or from this address: wait `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"sign-in locked for {retry_after:.0f}s")
        self.retry_after = max(1, math.ceil(retry_after))


def account_key(email: str) -> str:
    return "account:" + email.strip().lower()[:254]


def address_key(address: str) -> str:
    return "address:" + address[:64]


def sign_in_throttled(store: Store, email: str, password: str, address: str, ws: WebSettings) -> User | None:
    """`authenticate`, throttled per account and per client address; raises SignInLocked while either waits.

    The attempt is counted before the password is checked, so neither parallel guesses nor the right
    password get past a lockout; a success forgets the account's failures."""
    account = account_key(email)
    others = [(address_key(address), ws.signin_address_free_failures)]
    wait = store.sign_in_attempt(
        [(account, ws.signin_free_failures), *others],
        base=ws.signin_delay_base,
        cap=ws.signin_delay_max,
        window=ws.signin_window_seconds,
    )
    if wait > 0:
        raise SignInLocked(wait)
    user = authenticate(store, email, password)
    if user is not None:
        store.sign_in_succeeded(account, others)
    return user


def unlock_sign_in(store: Store, email: str) -> bool:
    """Lift an account's sign-in lockout (its failed attempts are forgotten); True when it had any."""
    return store.clear_sign_in_failures(account_key(email))


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


def sign_in(request: Request, user: User, store: Store) -> None:
    """A fresh session for the user: old contents dropped (an earlier sign-in in this browser ended on the
    server too), a new server-side session id and CSRF token."""
    earlier = request.session.get("sid")
    if isinstance(earlier, str):
        store.revoke_web_session(earlier)
    request.session.clear()
    request.session["sid"] = store.create_web_session(user.id)
    request.session["uid"] = user.id
    request.session["org"] = user.memberships[0].org_id if user.memberships else None
    request.session["csrf"] = secrets.token_urlsafe(32)


def session_user_id(request: Request, store: Store, ws: WebSettings) -> str | None:
    """The signed-in user's id, if the cookie names a live server-side session of that user. A cookie that
    outlived its session (signed out, idle too long, too old) is emptied."""
    sid, uid = request.session.get("sid"), request.session.get("uid")
    if not isinstance(sid, str) or not isinstance(uid, str):
        return None
    live = store.live_web_session(sid, idle_seconds=ws.session_idle_seconds, max_seconds=ws.session_max_seconds)
    if live != uid:
        request.session.clear()
        return None
    return uid


def sign_out(request: Request, store: Store) -> None:
    """End the session on the server (a copy of the cookie opens nothing afterwards) and in the browser."""
    sid = request.session.get("sid")
    if isinstance(sid, str):
        store.revoke_web_session(sid)
    request.session.clear()


__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "Membership",
    "SignInLocked",
    "User",
    "WebSettings",
    "account_key",
    "authenticate",
    "create_user",
    "csrf_ok",
    "csrf_token",
    "hash_password",
    "load_user",
    "session_user_id",
    "set_role",
    "sign_in",
    "sign_in_throttled",
    "sign_out",
    "unlock_sign_in",
    "verify_password",
]
