"""API keys: `lsk_` tokens stored only as SHA-256 hashes, and the request principal (organisation + actor)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ledgersync import Actor, LedgerSync, PermissionDenied, Role
from ledgersync.store.tables import ApiKey

TOKEN_PREFIX = "lsk_"
RANK = {Role.MEMBER: 0, Role.ADMIN: 1, Role.OWNER: 2}


def hash_token(token: str) -> str:
    # A plain SHA-256 suffices: tokens carry 256 random bits, so there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    token: str


def issue_key(ls: LedgerSync, org_id: str, role: Role, name: str = "API key") -> IssuedKey:
    """Create an API key for an organisation; the token is returned here and never again."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ls.store.create_api_key(org_id, name, role.value, hash_token(token), token[:12])
    return IssuedKey(row, token)


@dataclass(frozen=True)
class Principal:
    """Who is calling: an organisation, and the actor (with the key's role) that actions run as."""

    org_id: str
    key_id: str
    actor: Actor

    def require(self, role: Role, doing: str) -> None:
        if RANK[self.actor.role] < RANK[role]:
            raise PermissionDenied(f"only an {role.value} or above may {doing}; this key is a {self.actor.role.value}")


bearer = HTTPBearer(auto_error=False, description="An organisation's API key: `Authorization: Bearer lsk_...`")


def _ls(request: Request) -> LedgerSync:
    ls: LedgerSync = request.app.state.ledgersync
    return ls


def principal(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    """The calling organisation, from its API key; 401 without a live key."""
    if creds is None or not creds.credentials.startswith(TOKEN_PREFIX):
        raise HTTPException(
            401, "an API key is required: Authorization: Bearer lsk_...", {"WWW-Authenticate": "Bearer"}
        )
    row = _ls(request).store.api_key_by_hash(hash_token(creds.credentials))
    if row is None:
        raise HTTPException(401, "unknown or revoked API key", {"WWW-Authenticate": "Bearer"})
    return Principal(org_id=row.org_id, key_id=row.id, actor=Actor(f"api-key:{row.name}", Role(row.role)))


def require_admin_token(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    """The deployment's admin token (not an organisation's key): only it may create organisations."""
    expected = request.app.state.settings.admin_token
    if creds is None:
        raise HTTPException(401, "the deployment admin token is required", {"WWW-Authenticate": "Bearer"})
    if not expected or not hmac.compare_digest(creds.credentials.encode(), str(expected).encode()):
        raise PermissionDenied("only the deployment admin token may create organisations")


Caller = Annotated[Principal, Depends(principal)]
