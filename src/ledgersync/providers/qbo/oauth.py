"""QuickBooks Online's OAuth2 connect flow (authorization code, refresh, revoke, the company from realmId)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client

from ledgersync.model import AUTH, ErrorCode, ProviderError, SyncError
from ledgersync.providers.base import OAuthToken, Tenant
from ledgersync.providers.config import ProviderConfig
from ledgersync.providers.qbo.config import QboConfig
from ledgersync.providers.qbo.errors import RECONNECT_HINT, auth_revoked, fault_error
from ledgersync.providers.qbo.mapping import MINOR_VERSION, loads

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
# Refusals meaning the refresh token (or the app's credentials) will never work again.
_DEAD_GRANT = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})


@dataclass(frozen=True)
class QboEndpoints:
    discovery: str
    authorize: str
    token: str
    revocation: str
    api: str

    @classmethod
    def from_config(cls, config: QboConfig | Mapping[str, Any]) -> QboEndpoints:
        raw: str | None
        environment: str | None
        if isinstance(config, QboConfig):
            raw, environment = config.base_url, config.environment
        else:
            raw, environment = config.get("base_url"), config.get("environment")
        base = (raw or "").rstrip("/")
        if base:
            # A local sandbox serves every Intuit host's paths on one origin.
            return cls(
                discovery=f"{base}/.well-known/openid_configuration",
                authorize=f"{base}/connect/oauth2",
                token=f"{base}/oauth2/v1/tokens/bearer",
                revocation=f"{base}/v2/oauth2/tokens/revoke",
                api=f"{base}/v3",
            )
        # Intuit's development keys only reach sandbox companies, which live on their own API host.
        development = str(environment or "production").lower() in ("sandbox", "development")
        return cls(
            discovery="https://developer.intuit.com/.well-known/openid_"
            + ("sandbox_configuration" if development else "configuration"),
            authorize="https://appcenter.intuit.com/connect/oauth2",
            token="https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
            revocation="https://developer.api.intuit.com/v2/oauth2/tokens/revoke",
            api=("https://sandbox-quickbooks.api.intuit.com" if development else "https://quickbooks.api.intuit.com")
            + "/v3",
        )


@dataclass
class QboToken(OAuthToken):
    """An OAuthToken that also remembers the company (realmId) its consent was given for.

    Intuit does not say which company a token is for through any API: the realmId only arrives on the
    redirect, beside the code. `exchange` keeps it here so `tenants` can name the company."""

    realm_id: str | None = None


def parse_callback(url_or_query: str) -> tuple[str, str, str | None]:
    """(code, state, realmId) from the redirect back from Intuit; ProviderError if consent was refused."""
    query = urlsplit(url_or_query).query if "?" in url_or_query else url_or_query.lstrip("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    if "error" in params:
        raise ProviderError(
            SyncError(
                code=ErrorCode.AUTH_REVOKED,
                message="QuickBooks did not grant access (the connection was cancelled or refused).",
                hint="Start the connection again and choose Connect in QuickBooks.",
                platform_code=params["error"],
                platform_message=params.get("error_description"),
            )
        )
    if "code" not in params:
        raise ProviderError(
            SyncError(
                code=ErrorCode.VALIDATION,
                message="The answer from QuickBooks is missing its code.",
                hint="Start the connection again.",
            )
        )
    return params["code"], params.get("state", ""), params.get("realmId") or None


def split_code(code: str) -> tuple[str, str | None]:
    """The authorization code and realmId from what the app was handed back.

    `code` may be the bare code, the callback's query string (`code=..&state=..&realmId=..`) or the whole
    callback URL; only the last two carry the realmId."""
    if "code=" in code:
        found, _, realm = parse_callback(code)
        return found, realm
    return code, None


def token_from_response(data: Mapping[str, Any], realm_id: str | None = None) -> QboToken:
    now = dt.datetime.now(dt.UTC)
    expires_in = float(data.get("expires_in") or 3600)
    return QboToken(
        access_token=str(data["access_token"]),
        # Intuit rotates the refresh token (roughly daily): the one returned must always replace the old one.
        refresh_token=str(data.get("refresh_token") or ""),
        expires_at=now + dt.timedelta(seconds=expires_in),
        scope=str(data.get("scope") or ACCOUNTING_SCOPE),
        token_type="Bearer",
        realm_id=realm_id,
    )


class QboOAuth:
    """OAuthFlow for one Intuit app (QboConfig: client_id, client_secret, redirect_uri, scopes, base_url (a
    local sandbox), environment (production | sandbox: Intuit's development companies), timeout). Settings as
    a mapping are validated into QboConfig (ConfigError if they do not fit)."""

    def __init__(
        self, config: ProviderConfig | Mapping[str, Any], *, transport: httpx.BaseTransport | None = None
    ) -> None:
        cfg = QboConfig.coerce(config)
        self.client_id = cfg.client_id
        self._secret = cfg.client_secret.get_secret_value()
        self.redirect_uri = cfg.redirect_uri
        self.scopes = cfg.scopes or ACCOUNTING_SCOPE
        self.endpoints = QboEndpoints.from_config(cfg)
        # Sign-in calls keep their own 30 s: the API timeout (60) suits long queries, not token exchanges.
        self._timeout = 30.0 if "timeout" not in cfg.model_fields_set else cfg.timeout
        self._transport = transport
        # The realmId of the last code exchanged on this flow, for a caller that hands `tenants` a plain token.
        self._last_realm: str | None = None

    def _session(self) -> OAuth2Client:
        # A fresh Authlib client per call: it keeps token state on itself, and refreshes run on many threads.
        return OAuth2Client(
            client_id=self.client_id,
            client_secret=self._secret,
            token_endpoint_auth_method="client_secret_basic",
            scope=self.scopes,
            redirect_uri=self.redirect_uri,
            timeout=self._timeout,
            transport=self._transport,
        )

    def authorization_url(self, state: str) -> str:
        with self._session() as session:
            url, _ = session.create_authorization_url(self.endpoints.authorize, state=state)
        return str(url)

    def exchange(self, code: str) -> QboToken:
        """Trade the code for tokens. Pass the callback's whole query string (or URL) as `code` so the
        company's realmId travels with it; a bare code works for the tokens but cannot name the company."""
        bare, realm = split_code(code)
        try:
            with self._session() as session:
                data = session.fetch_token(self.endpoints.token, grant_type="authorization_code", code=bare)
        except OAuthError as exc:
            raise ProviderError(
                SyncError(
                    code=ErrorCode.AUTH_REVOKED,
                    message="QuickBooks did not accept the sign-in (the link was used already or has expired).",
                    hint="Start the connection again.",
                    platform_code=exc.error,
                    platform_message=exc.description,
                )
            ) from exc
        except httpx.HTTPError as exc:
            raise _unreachable(exc) from exc
        self._last_realm = realm
        return token_from_response(data, realm)

    def refresh(self, token: OAuthToken) -> QboToken:
        try:
            with self._session() as session:
                data = session.refresh_token(self.endpoints.token, refresh_token=token.refresh_token)
        except OAuthError as exc:
            if exc.error in _DEAD_GRANT:
                raise ProviderError(auth_revoked(exc.description or exc.error)) from exc
            raise _unreachable(exc) from exc
        except httpx.HTTPError as exc:
            raise _unreachable(exc) from exc
        return token_from_response(data, getattr(token, "realm_id", None))

    def tenants(self, token: OAuthToken) -> list[Tenant]:
        """The company this consent is for, named by its CompanyInfo (which also proves the token works)."""
        realm = getattr(token, "realm_id", None) or self._last_realm
        if not realm:
            raise ProviderError(
                SyncError(
                    code=ErrorCode.VALIDATION,
                    message="QuickBooks names the company only on the redirect (realmId), and it was not passed on.",
                    hint="Pass the callback's whole query string (code, state and realmId) as the code.",
                )
            )
        url = f"{self.endpoints.api}/company/{realm}/companyinfo/{realm}"
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as http:
                response = http.get(
                    url,
                    params={"minorversion": MINOR_VERSION},
                    headers={"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"},
                )
        except httpx.HTTPError as exc:
            raise _unreachable(exc) from exc
        body: Any = None
        try:
            body = loads(response.content) if response.content else None
        except ValueError:
            body = None
        fault = body.get("Fault") if isinstance(body, Mapping) else None
        error = fault_error(fault, response.status_code) if isinstance(fault, Mapping) else None
        if response.status_code in (401, 403) or (error is not None and error.code in AUTH):
            if error is None or error.code is not ErrorCode.AUTH_REVOKED:
                error = SyncError(
                    code=ErrorCode.AUTH_EXPIRED,
                    message="QuickBooks did not accept the sign-in when reading the company.",
                    hint=RECONNECT_HINT,
                    platform_code=error.platform_code if error else str(response.status_code),
                    platform_message=error.platform_message if error else None,
                )
            raise ProviderError(error)
        if response.status_code >= 500:
            raise _unreachable(httpx.HTTPStatusError("companyinfo", request=response.request, response=response))
        # The realmId is what matters; a company whose name can't be read is still this company.
        info = (body.get("CompanyInfo") if isinstance(body, Mapping) else None) or {}
        name = str(info.get("CompanyName") or info.get("LegalName") or f"QuickBooks company {realm}")
        return [Tenant(id=str(realm), name=name)]

    def revoke(self, token: OAuthToken) -> None:
        """Revoke the refresh token and with it the app's access to the company (Intuit takes a JSON body)."""
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as http:
                response = http.post(
                    self.endpoints.revocation,
                    json={"token": token.refresh_token or token.access_token},
                    auth=(self.client_id, self._secret),
                    headers={"Accept": "application/json"},
                )
        except httpx.HTTPError as exc:
            raise _unreachable(exc) from exc
        if response.status_code >= 500:
            raise _unreachable(httpx.HTTPStatusError("revoke", request=response.request, response=response))


def _unreachable(exc: Exception) -> ProviderError:
    return ProviderError(
        SyncError(
            code=ErrorCode.UNAVAILABLE,
            message="QuickBooks' sign-in service could not be reached.",
            hint="This retries by itself; nothing needs doing.",
            platform_code=type(exc).__name__,
            platform_message=str(exc) or None,
        )
    )
